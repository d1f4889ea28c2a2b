"""The function words: the glue of a sentence, shown after content words when explaining a call.

The model weighs every word, so "the" or "to" can tip a call; an explanation that lists them as
the reasons reads as nonsense when content words also carry weight. Explanations keep them, in a
group of their own after the content words: the page reads this list from GET /v1/model and
counts a term ("of the", "not_to") as a function term when each of its words is one.
Negations ("not", "no", "never", "nor", "without") are not here: they carry stance.
"""

_BY_KIND = {
    "articles and determiners": "a an the this that these those some any each every either "
    "neither such other another",
    "prepositions": "about above across after along among around as at before behind below "
    "beside between beyond by down during for from in inside into like near of off on onto out "
    "outside over past per since through throughout till to toward towards under until up upon "
    "via with within",
    "conjunctions": "and but or so yet if than then though although because while whether",
    "pronouns and possessives": "i me my mine myself we us our ours ourselves you your yours "
    "yourself yourselves he him his himself she her hers herself it its itself they them their "
    "theirs themselves who whom whose which what",
    # Lemmas: "is" and "was" arrive as "be", but the surface forms cost nothing to list.
    "auxiliaries and modals": "be am is are was were been being have has had having do does "
    "did done will would shall should can could may might must",
    "fillers": "also just very too there here",
}
FUNCTION_WORDS: frozenset[str] = frozenset(
    word for words in _BY_KIND.values() for word in words.split()
)
