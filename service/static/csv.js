// Reading and writing CSV in the browser, as `stance score` reads it: a header row, every field
// text, blank lines skipped, and errors that name the row (the header is row 1) and the line.

export class CsvError extends Error {}

const rowName = (row, line) => (row === line ? `row ${row}` : `row ${row} (line ${line})`);

// The offset of the first byte that is not UTF-8, to name it as `stance score` does.
function firstBadByte(bytes) {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const more = b < 0x80 ? 0 : b >= 0xc2 && b < 0xe0 ? 1 : b >= 0xe0 && b < 0xf0 ? 2 : b >= 0xf0 && b < 0xf5 ? 3 : -1;
    if (more < 0) return i;
    for (let k = 1; k <= more; k += 1) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    i += more + 1;
  }
  return -1;
}

export function decodeUtf8(bytes, name) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const offset = firstBadByte(bytes);
    let line = 1;
    for (let i = 0; i < offset; i += 1) if (bytes[i] === 0x0a) line += 1;
    const where = offset < 0 ? "" : ` line ${line}`;
    const at = offset < 0 ? "" : ` (an invalid byte at byte ${offset} of the file)`;
    throw new CsvError(`${name}${where}: not UTF-8 text${at}`);
  }
}

// Return { header, rows, lines }: lines[i] is the line rows[i] starts on.
export function parseCsv(text, name) {
  const rows = [];
  const lines = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  const fail = (detail) => {
    throw new CsvError(`${name} ${rowName(rows.length + 1, line)}: not a readable CSV: ${detail}`);
  };
  while (i < n) {
    if (text[i] === "\n" || text[i] === "\r") {
      i += text[i] === "\r" && text[i + 1] === "\n" ? 2 : 1;
      line += 1;
      continue; // a blank line, not a row
    }
    const startLine = line;
    const row = [];
    for (;;) {
      let value;
      if (text[i] === '"') {
        value = "";
        i += 1;
        for (;;) {
          const quote = text.indexOf('"', i);
          if (quote < 0) fail("unexpected end of data (a quoted field is never closed)");
          const piece = text.slice(i, quote);
          value += piece;
          line += piece.split("\n").length - 1;
          if (text[quote + 1] === '"') {
            value += '"';
            i = quote + 2;
          } else {
            i = quote + 1;
            break;
          }
        }
        if (i < n && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r") {
          fail("',' expected after '\"'");
        }
      } else {
        let j = i;
        while (j < n && text[j] !== "," && text[j] !== "\n" && text[j] !== "\r") j += 1;
        value = text.slice(i, j);
        i = j;
      }
      row.push(value);
      if (text[i] === ",") {
        i += 1;
        continue;
      }
      if (text[i] === "\r") i += 1;
      if (text[i] === "\n") i += 1;
      line += 1;
      break;
    }
    rows.push(row);
    lines.push(startLine);
  }
  if (!rows.length) throw new CsvError(`${name}: empty file, expected a CSV with a header row`);
  const [header, ...body] = rows;
  const twice = header.filter((column, k) => header.indexOf(column) !== k);
  if (twice.length) {
    const names = [...new Set(twice)].map((c) => `'${c}'`).join(", ");
    throw new CsvError(`${name}: the column name(s) ${names} appear twice`);
  }
  body.forEach((fields, k) => {
    if (fields.length !== header.length) {
      throw new CsvError(
        `${name} ${rowName(k + 2, lines[k + 1])}: ${fields.length} field(s), but the header ` +
          `has ${header.length}`,
      );
    }
  });
  return { header, rows: body, lines: lines.slice(1) };
}

const needsQuotes = /[",\r\n]|^\s|\s$/;
const field = (value) => (needsQuotes.test(value) ? `"${value.replaceAll('"', '""')}"` : value);

export function writeCsv(header, rows) {
  return [header, ...rows].map((row) => row.map(field).join(",")).join("\n") + "\n";
}
