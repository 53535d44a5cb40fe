/**
 * Byte-exact YAML for Kyverno's denial tree (`map[policy]map[rule]message`), as Kyverno's
 * `yaml.Marshal` (go-yaml v2 emitter) writes it: keys sorted, two-space indent, strings plain
 * when YAML allows it and single-quoted otherwise, and long scalars folded at the first space
 * past column 80 onto continuation lines indented four spaces.
 */
export function goYamlTwoLevelMap(tree: Readonly<Record<string, Readonly<Record<string, string>>>>): string {
  let out = '';
  for (const outer of Object.keys(tree).sort()) {
    out += `${scalar(outer, 0, 0, false)}:\n`;
    const inner = tree[outer] ?? {};
    for (const key of Object.keys(inner).sort()) {
      const prefix = `  ${scalar(key, 2, 2, false)}: `;
      out += `${prefix}${scalar(inner[key] ?? '', prefix.length, 4, true)}\n`;
    }
  }
  return out;
}

const BEST_WIDTH = 80;
const INDICATORS = new Set([
  '-',
  '?',
  ':',
  ',',
  '[',
  ']',
  '{',
  '}',
  '#',
  '&',
  '*',
  '!',
  '|',
  '>',
  "'",
  '"',
  '%',
  '@',
  '`',
]);
/** Strings that YAML would read as something other than a string; go-yaml double-quotes them. */
const NON_STRING =
  /^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+)$/;

function scalar(value: string, column: number, indent: number, allowBreaks: boolean): string {
  // eslint-disable-next-line no-control-regex
  if (value === '' || NON_STRING.test(value) || /[\u0000-\u001f\u007f]/.test(value))
    return JSON.stringify(value);
  return plainAllowed(value)
    ? fold(value, column, indent, allowBreaks, '', '')
    : fold(value, column, indent, allowBreaks, "'", "'");
}

function plainAllowed(value: string): boolean {
  const first = value[0] ?? '';
  const second = value[1];
  if (INDICATORS.has(first) && !('-?:'.includes(first) && second !== undefined && second !== ' '))
    return false;
  if (/^\s|\s$/.test(value)) return false;
  return !value.includes(': ') && !value.includes(' #') && !value.endsWith(':');
}

/** go-yaml's writer: at a single space, break the line when past the best width. */
function fold(
  value: string,
  startColumn: number,
  indent: number,
  allowBreaks: boolean,
  open: string,
  close: string,
): string {
  let out = open;
  let column = startColumn + open.length;
  let previousWasSpace = false;
  const chars = [...value];
  chars.forEach((char, index) => {
    if (char === ' ') {
      const breakHere =
        allowBreaks &&
        !previousWasSpace &&
        column > BEST_WIDTH &&
        index > 0 &&
        index < chars.length - 1 &&
        chars[index + 1] !== ' ';
      if (breakHere) {
        out += `\n${' '.repeat(indent)}`;
        column = indent;
      } else {
        out += char;
        column++;
      }
      previousWasSpace = true;
      return;
    }
    const text = open === "'" && char === "'" ? "''" : char;
    out += text;
    column += text.length;
    previousWasSpace = false;
  });
  return out + close;
}
