"""The one label list and the column names every part of Stance shares."""

# Alphabetical, the order scikit-learn gives `classes_`, so probability columns line up.
LABELS: tuple[str, ...] = ("conciliatory", "neutral", "warning")

TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
# The dates' column `stance score --date-column` and `stance timeline` use unless told otherwise.
DATE_COLUMN = "date"
# The columns scoring adds to a table, in order: `stance score`'s files, Tagger.score's frames.
SCORE_COLUMNS: tuple[str, ...] = (LABEL_COLUMN, "confidence", *(f"p_{label}" for label in LABELS))
# Added after them by `--actors`, the actor ids of each statement; a timeline's dyad by default.
ACTOR_COLUMNS: tuple[str, ...] = ("speaker", "target")

# What one request may hold: the API enforces these (configurable per deployment), the feedback
# store refuses longer corrections, and the page reads them from GET /v1/model.
LIMITS: dict[str, int] = {
    "max_texts": 1000,  # statements per predict request
    "max_text_chars": 10_000,  # characters per statement
    "max_document_chars": 100_000,  # characters per analysed document
    "max_note_chars": 1_000,  # characters per feedback note
    "max_timeline_rows": 10_000,  # scored rows per timeline request (the CLI reads any size)
}


# How the labels sit on the maps of event data, so users of CAMEO or PLOVER can join Stance's
# output to theirs. A label is the tone of one statement; an event code is the act it reports,
# so the map is many-to-one where the act fixes the tone and "depends" where the guide's rules
# (data/GUIDELINES.md, numbers listed) decide by how the sentence frames the act.
# CAMEO root: (name, label, PLOVER types it converts to, guide rules). The PLOVER column follows
# the Open Event Data Alliance's CAMEO2PLOVER table (PLOVER draft 0.8, 2021).
CAMEO_ROOTS: dict[str, tuple[str, str, tuple[str, ...], tuple[int, ...]]] = {
    "01": ("Make public statement", "neutral", (), (1, 13)),
    "02": ("Appeal", "depends", (), (6, 31, 32)),
    "03": ("Express intent to cooperate", "conciliatory", ("AGREE",), (18, 19)),
    "04": ("Consult", "neutral", ("CONSULT",), (29,)),
    "05": ("Engage in diplomatic cooperation", "conciliatory", ("SUPPORT",), (19, 35)),
    "06": ("Engage in material cooperation", "conciliatory", ("COOPERATE",), (19, 26)),
    "07": ("Provide aid", "conciliatory", ("AID",), (30,)),
    "08": ("Yield", "conciliatory", ("CONCEDE", "RETREAT"), (30,)),
    "09": ("Investigate", "neutral", ("ACCUSE",), (21, 36)),
    "10": ("Demand", "warning", ("DEMAND",), (31,)),
    "11": ("Disapprove", "warning", ("ACCUSE",), (34,)),
    "12": ("Reject", "warning", ("REJECT",), (17, 25)),
    "13": ("Threaten", "warning", ("THREATEN",), (2, 5)),
    "14": ("Protest", "warning", ("PROTEST",), (22,)),
    "15": ("Exhibit force posture", "depends", ("MOBILIZE",), (23,)),
    "16": ("Reduce relations", "warning", ("SANCTION",), (16,)),
    "17": ("Coerce", "warning", ("COERCE",), (16, 36)),
    "18": ("Assault", "depends", ("ASSAULT",), (24, 36)),
    "19": ("Fight", "depends", ("ASSAULT",), (24, 36)),
    "20": ("Use unconventional mass violence", "depends", ("ASSAULT",), (24,)),
}
# PLOVER type: (label, guide rules). ACCUSE holds CAMEO's investigations (neutral, rule 36)
# and accusations (warning, rule 34); COERCE's arrests reported as fact are neutral (rule 36).
PLOVER_TYPES: dict[str, tuple[str, tuple[int, ...]]] = {
    "AGREE": ("conciliatory", (18, 19)),
    "CONSULT": ("neutral", (29,)),
    "SUPPORT": ("conciliatory", (19, 35)),
    "COOPERATE": ("conciliatory", (19, 26)),
    "AID": ("conciliatory", (30,)),
    "CONCEDE": ("conciliatory", (30,)),
    "RETREAT": ("conciliatory", (30,)),
    "ACCUSE": ("depends", (21, 34, 36)),
    "DEMAND": ("warning", (31,)),
    "REJECT": ("warning", (17, 25)),
    "THREATEN": ("warning", (2, 5)),
    "PROTEST": ("warning", (22,)),
    "SANCTION": ("warning", (16,)),
    "MOBILIZE": ("depends", (23,)),
    "COERCE": ("warning", (16, 36)),
    "ASSAULT": ("depends", (24, 36)),
}
UNMAPPED = (
    "CAMEO 01 (public statements) and 02 (appeals) have no PLOVER type.",
    "Stance's neutral statements that report no act (schedules, attendance, background, figures, "
    "procedure, 'declined to comment') have no event code in either scheme.",
    "Event coders code acts without a stance of their own (a meeting, a strike); Stance labels "
    "the statement, so one CAMEO root can carry more than one label ('depends').",
)


def event_data_map() -> dict[str, object]:
    """Return how the labels relate to CAMEO root codes and PLOVER types, for GET /v1/model."""
    return {
        "cameo": [
            {"code": code, "name": name, "label": label, "plover": list(plover), "rules": list(r)}
            for code, (name, label, plover, r) in CAMEO_ROOTS.items()
        ],
        "plover": [
            {"type": name, "label": label, "rules": list(r)}
            for name, (label, r) in PLOVER_TYPES.items()
        ],
        "unmapped": list(UNMAPPED),
    }
