/* Where CSV records end, so that the batch reader (service/batch.py) can cut a file into
   pieces of whole records for its worker processes to parse: the main process then reads bytes
   and no longer parses every row itself.

   It follows the states of Python's csv reader (Modules/_csv.c) for the dialect the reader
   uses: delimiter ",", quotechar '"', doubled quotes, no escape character, strict. A newline
   ends a record unless it is inside a quoted field. Where the csv module would raise (a
   character after a closing quote, a carriage return inside an unquoted field), the next
   newline is taken as an end: the worker that parses that piece raises there, as the csv module
   reading the whole file would. tests/cli/test_batch.py checks that pieces read as the whole.

   It also parses a piece's records into columns (fields), for the workers: the common case
   only, and None for anything else (a record of another width, a bare carriage return, a NUL,
   a character after a closing quote, an unclosed quote, bytes that are not UTF-8), which the
   csv module then reads, to the same rows or the error it names. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

enum { START_FIELD, IN_FIELD, IN_QUOTED, QUOTE_IN_QUOTED, EAT_CRNL, FAILED, N_STATES };

PyDoc_STRVAR(scan_doc,
"scan(data, start, wanted, state) -> (end, found, state)\n\n"
"Read data (bytes-like) from offset start, in state (0 at the start of a record), until\n"
"wanted records have ended. Return the offset just past the newline that ends the last of\n"
"them, or len(data) if fewer end there; how many ended; and the state at that offset.");

static PyObject *scan(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, wanted;
    int state;
    if (!PyArg_ParseTuple(args, "y*nni", &view, &start, &wanted, &state)) return NULL;
    if (start < 0 || start > view.len || wanted < 1 || state < 0 || state >= N_STATES) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "start, wanted or state out of range");
        return NULL;
    }
    const unsigned char *data = view.buf;
    Py_ssize_t i = start, found = 0;
    for (; i < view.len && found < wanted; i++) {
        unsigned char c = data[i];
        switch (state) {
        case START_FIELD:
            state = c == '"' ? IN_QUOTED : c == '\r' ? EAT_CRNL
                  : (c == ',' || c == '\n') ? START_FIELD : IN_FIELD;
            break;
        case IN_FIELD:
            state = c == '\r' ? EAT_CRNL : (c == ',' || c == '\n') ? START_FIELD : IN_FIELD;
            break;
        case IN_QUOTED:
            if (c == '"') state = QUOTE_IN_QUOTED;
            break;
        case QUOTE_IN_QUOTED:
            state = c == '"' ? IN_QUOTED : c == '\r' ? EAT_CRNL
                  : (c == ',' || c == '\n') ? START_FIELD : FAILED;
            break;
        case EAT_CRNL:
            if (c != '\r' && c != '\n') state = FAILED;
            break;
        default: /* FAILED: the csv module raises in this record */
            break;
        }
        if (c == '\n' && state != IN_QUOTED) {
            state = START_FIELD;
            found++;
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("nni", i, found, state);
}

/* Append data[begin:end] decoded, or with each doubled quote made one when unquote, to column.
   Return 0, or -1 with no exception set when it is not UTF-8, -2 with one on another error. */
static int append_field(PyObject *column, const char *data, Py_ssize_t begin, Py_ssize_t end,
                        int unquote, char *scratch) {
    const char *start = data + begin;
    Py_ssize_t size = end - begin;
    if (unquote) {
        Py_ssize_t n = 0;
        for (Py_ssize_t i = begin; i < end; i++) {
            scratch[n++] = data[i];
            if (data[i] == '"') i++; /* the second of a doubled quote */
        }
        start = scratch;
        size = n;
    }
    PyObject *text = PyUnicode_DecodeUTF8(start, size, NULL);
    if (text == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return -2;
        PyErr_Clear();
        return -1;
    }
    int failed = PyList_Append(column, text);
    Py_DECREF(text);
    return failed ? -2 : 0;
}

PyDoc_STRVAR(fields_doc,
"fields(data, width) -> list of width lists of str, or None\n\n"
"The fields of data's records (bytes of whole records) as columns, blank lines skipped, as\n"
"csv.reader(strict=True) reads them; None where the records are not simply width fields of\n"
"UTF-8 (see the module's comment), so that the csv module can read them or name the error.");

static PyObject *fields(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*n", &view, &width)) return NULL;
    PyObject *columns = NULL;
    char *scratch = NULL;
    int outcome = -2; /* 0 parsed, -1 not simple (None), -2 an exception is set */
    if (width < 1) {
        PyErr_SetString(PyExc_ValueError, "width must be at least 1");
        goto done;
    }
    if ((columns = PyList_New(width)) == NULL) goto done;
    for (Py_ssize_t c = 0; c < width; c++) {
        PyObject *column = PyList_New(0);
        if (column == NULL) goto done;
        PyList_SET_ITEM(columns, c, column);
    }
    if ((scratch = PyMem_Malloc(view.len + 1)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const char *data = view.buf;
    const Py_ssize_t n = view.len;
    Py_ssize_t i = 0;
    outcome = 0;
    while (i < n && outcome == 0) {
        if (data[i] == '\n' || (data[i] == '\r' && i + 1 < n && data[i + 1] == '\n')) {
            i += data[i] == '\n' ? 1 : 2; /* a blank line: no record */
            continue;
        }
        for (Py_ssize_t c = 0;; c++) { /* one field of the record a turn */
            Py_ssize_t begin = i, end;
            int quoted = i < n && data[i] == '"', doubled = 0;
            if (quoted) {
                for (begin = ++i;; i++) {
                    if (i >= n) goto not_simple; /* unclosed: the csv module raises */
                    if (data[i] == '"') {
                        if (i + 1 < n && data[i + 1] == '"') {
                            doubled = 1;
                            i++;
                        } else {
                            break;
                        }
                    } else if (data[i] == '\0') {
                        goto not_simple;
                    }
                }
                end = i++; /* past the closing quote */
            } else {
                while (i < n && data[i] != ',' && data[i] != '\n' && data[i] != '\r') {
                    if (data[i] == '\0') goto not_simple;
                    i++;
                }
                end = i;
            }
            if (c >= width) goto not_simple;
            int added = append_field(PyList_GET_ITEM(columns, c), data, begin, end, doubled,
                                     scratch);
            if (added == -1) goto not_simple;
            if (added == -2) {
                outcome = -2;
                break;
            }
            if (i >= n) { /* the last record, with no newline */
                if (c + 1 != width) goto not_simple;
                break;
            }
            if (data[i] == ',') {
                i++; /* at the end of the data, the next field is an empty last one */
                continue;
            }
            if (data[i] == '\r') {
                if (i + 1 >= n || data[i + 1] != '\n') goto not_simple;
                i++;
            }
            if (data[i] != '\n') goto not_simple; /* a character after a closing quote */
            i++;
            if (c + 1 != width) goto not_simple;
            break;
        }
    }
    goto done;
not_simple:
    outcome = -1;
done:
    PyMem_Free(scratch);
    PyBuffer_Release(&view);
    if (outcome == 0) return columns;
    Py_XDECREF(columns);
    if (outcome == -1) Py_RETURN_NONE;
    return NULL;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"fields", fields, METH_VARARGS, fields_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service._records", "CSV records in C: where they end, and their fields.", -1, methods,
};

PyMODINIT_FUNC PyInit__records(void) { return PyModule_Create(&module); }
