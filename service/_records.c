/* Where CSV records end, so that the batch reader (service/batch.py) can cut a file into
   pieces of whole records for its worker processes to parse: the main process then reads bytes
   and no longer parses every row itself.

   It follows the states of Python's csv reader (Modules/_csv.c) for the dialect the reader
   uses: delimiter ",", quotechar '"', doubled quotes, no escape character, strict. A newline
   ends a record unless it is inside a quoted field. Where the csv module would raise (a
   character after a closing quote, a carriage return inside an unquoted field), the next
   newline is taken as an end: the worker that parses that piece raises there, as the csv module
   reading the whole file would. tests/cli/test_batch.py checks that pieces read as the whole. */

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

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "service._records", "Where CSV records end, in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__records(void) { return PyModule_Create(&module); }
