/**
 * A tiny Bicep reader for consistency tests where no `bicep` compiler is available. It tokenizes a file
 * (strings with `${}` interpolation, comments, brackets) and lists what a compiler would resolve:
 * declarations, the symbols expressions reference, function calls, member chains and object keys.
 * It is deliberately not a parser of the whole language: only what the infra tests check.
 */

interface Token {
  readonly kind: 'ident' | 'string' | 'punct' | 'number' | 'newline';
  readonly value: string;
  readonly line: number;
  /** Tokens of each `${...}` inside a string. */
  readonly inner?: Token[][];
}

/** One `param`, `var`, `resource`, `module` or `output` declaration. */
export interface BicepDeclaration {
  readonly keyword: 'param' | 'var' | 'resource' | 'module' | 'output';
  readonly name: string;
  readonly line: number;
  /** Resource type (`Type@version`) or module path. */
  readonly target?: string;
  /** `param` only: has a default value or a nullable type. */
  readonly optional?: boolean;
  /** `module` only: the keys of its `params` object. */
  readonly passed?: string[];
}

/** What the tests check in one Bicep file. */
export interface BicepFile {
  readonly declarations: BicepDeclaration[];
  /** Loop variables (`for x in`, `for (x, i) in`) and lambda parameters. */
  readonly locals: Set<string>;
  /** Identifier chains used in expressions, e.g. `['storage', 'outputs', 'name']`. */
  readonly references: Array<{ chain: string[]; line: number }>;
  readonly functionCalls: Array<{ name: string; line: number }>;
  /** Keys of every object literal, one list per object (for duplicate checks). */
  readonly objects: Array<{ keys: string[]; line: number }>;
}

const KEYWORDS = new Set([
  'true',
  'false',
  'null',
  'if',
  'for',
  'in',
  'existing',
  'targetScope',
  'az',
  'sys',
]);
const DECLARATIONS = new Set(['param', 'var', 'resource', 'module', 'output']);
const PUNCT = ['=>', '==', '!=', '>=', '<=', '&&', '||', '??', '?.', '.?', '::', ...'{}[]()=:,.?!<>+-*/%@|'];

function tokenize(text: string, start = 0, end = text.length, line = 1): Token[] {
  const tokens: Token[] = [];
  let i = start;
  while (i < end) {
    const c = text[i] ?? '';
    if (c === '\n') tokens.push({ kind: 'newline', value: '\n', line: line++ });
    if (c === '\n' || c === ' ' || c === '\t' || c === '\r') {
      i += 1;
    } else if (text.startsWith('//', i)) {
      while (i < end && text[i] !== '\n') i += 1;
    } else if (text.startsWith('/*', i)) {
      const close = text.indexOf('*/', i + 2);
      line += (text.slice(i, close).match(/\n/g) ?? []).length;
      i = close + 2;
    } else if (text.startsWith("'''", i)) {
      const close = text.indexOf("'''", i + 3);
      tokens.push({ kind: 'string', value: text.slice(i + 3, close), line });
      line += (text.slice(i, close).match(/\n/g) ?? []).length;
      i = close + 3;
    } else if (c === "'") {
      const inner: Token[][] = [];
      let value = '';
      i += 1;
      while (i < end && text[i] !== "'") {
        if (text[i] === '\\') {
          value += text.slice(i, i + 2);
          i += 2;
        } else if (text.startsWith('${', i)) {
          let depth = 1;
          let j = i + 2;
          for (; j < end && depth > 0; j += 1) depth += text[j] === '{' ? 1 : text[j] === '}' ? -1 : 0;
          inner.push(tokenize(text, i + 2, j - 1, line));
          value += text.slice(i, j);
          i = j;
        } else value += text[i++];
      }
      tokens.push({ kind: 'string', value, line, inner });
      i += 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, end))?.[0] ?? c;
      tokens.push({ kind: 'ident', value: m, line });
      i += m.length;
    } else if (/\d/.test(c)) {
      const m = /^\d+(\.\d+)?/.exec(text.slice(i, end))?.[0] ?? c;
      tokens.push({ kind: 'number', value: m, line });
      i += m.length;
    } else {
      const p = PUNCT.find((q) => text.startsWith(q, i)) ?? c;
      tokens.push({ kind: 'punct', value: p, line });
      i += p.length;
    }
  }
  return tokens;
}

const isKeyStart = (prev: Token | undefined): boolean =>
  !prev || prev.kind === 'newline' || prev.value === '{' || prev.value === ',';

/** Collects references, calls, locals and object keys from a token run (recursing into strings). */
function scan(tokens: Token[], file: BicepFile, skip: Set<number>): void {
  const stack: Array<{ keys: string[]; line: number } | undefined> = [];
  tokens.forEach((t, i) => {
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    for (const inner of t.inner ?? []) scan(inner, file, new Set());
    if (t.value === '{') stack.push({ keys: [], line: t.line });
    if (t.value === '[' || t.value === '(') stack.push(undefined);
    if (['}', ']', ')'].includes(t.value)) {
      const object = stack.pop();
      if (t.value === '}' && object) file.objects.push(object);
    }
    const isKey = next?.value === ':' && isKeyStart(prev) && stack.at(-1) !== undefined;
    if (isKey && (t.kind === 'ident' || t.kind === 'string')) stack.at(-1)?.keys.push(t.value);
    if (t.kind !== 'ident' || skip.has(i) || isKey || KEYWORDS.has(t.value)) return;
    if (prev?.value === '.' || prev?.value === '?.' || prev?.value === '@') return;
    if (prev?.value === 'for' || (prev?.value === '(' && tokens[i - 2]?.value === 'for'))
      return void file.locals.add(t.value);
    if (prev?.value === ',' && tokens[i - 3]?.value === '(' && tokens[i - 4]?.value === 'for')
      return void file.locals.add(t.value);
    if (next?.value === '=>') return void file.locals.add(t.value);
    if (next?.value === '(') return void file.functionCalls.push({ name: t.value, line: t.line });
    const chain = [t.value];
    for (let j = i + 1; ['.', '?.', '!'].includes(tokens[j]?.value ?? ''); j += 1) {
      if (tokens[j]?.value !== '!' && tokens[j + 1]?.kind === 'ident') chain.push(tokens[++j]?.value ?? '');
    }
    file.references.push({ chain, line: t.line });
  });
}

/** Index just after the bracket that closes the one at `open`. */
function closing(tokens: Token[], open: number): number {
  let depth = 0;
  for (let j = open; j < tokens.length; j += 1) {
    if (['{', '[', '('].includes(tokens[j]?.value ?? '')) depth += 1;
    if (['}', ']', ')'].includes(tokens[j]?.value ?? '') && --depth === 0) return j + 1;
  }
  return tokens.length;
}

/** Keys of the `params: { ... }` object directly inside the module body that starts at `from`. */
function moduleParams(tokens: Token[], from: number): string[] {
  const body = tokens.findIndex((t, j) => j > from && t.value === '{');
  const end = closing(tokens, body);
  let depth = 0;
  for (let j = body; j < end; j += 1) {
    const t = tokens[j];
    if (['{', '[', '('].includes(t?.value ?? '')) depth += 1;
    if (['}', ']', ')'].includes(t?.value ?? '')) depth -= 1;
    if (
      depth === 1 &&
      t?.value === 'params' &&
      tokens[j + 1]?.value === ':' &&
      tokens[j + 2]?.value === '{'
    ) {
      const keys: string[] = [];
      const stop = closing(tokens, j + 2);
      let inner = 0;
      for (let k = j + 2; k < stop; k += 1) {
        const u = tokens[k];
        if (['{', '[', '('].includes(u?.value ?? '')) inner += 1;
        if (['}', ']', ')'].includes(u?.value ?? '')) inner -= 1;
        if (inner === 1 && tokens[k + 1]?.value === ':' && isKeyStart(tokens[k - 1]))
          keys.push(u?.value ?? '');
      }
      return keys;
    }
  }
  return [];
}

/** Reads one Bicep file. */
export function readBicep(text: string): BicepFile {
  const tokens = tokenize(text);
  const file: BicepFile = {
    declarations: [],
    locals: new Set(),
    references: [],
    functionCalls: [],
    objects: [],
  };
  const skip = new Set<number>();
  tokens.forEach((t, i) => {
    const atLineStart = i === 0 || tokens[i - 1]?.kind === 'newline';
    if (!atLineStart || t.kind !== 'ident' || !DECLARATIONS.has(t.value)) return;
    const keyword = t.value as BicepDeclaration['keyword'];
    const name = tokens[i + 1]?.value ?? '';
    skip.add(i).add(i + 1);
    const eol = tokens.findIndex((u, j) => j > i && u.kind === 'newline');
    const header = tokens.slice(i + 2, eol < 0 ? tokens.length : eol);
    if (keyword === 'param' || keyword === 'output') {
      const eq = header.findIndex((u) => u.value === '=');
      for (let j = 0; j < (eq < 0 ? header.length : eq); j += 1) skip.add(i + 2 + j);
      const optional = eq >= 0 || header.some((u, j) => u.value === '?' && (eq < 0 || j < eq));
      file.declarations.push({ keyword, name, line: t.line, ...(keyword === 'param' ? { optional } : {}) });
      return;
    }
    const target = keyword === 'resource' || keyword === 'module' ? header[0]?.value : undefined;
    file.declarations.push({
      keyword,
      name,
      line: t.line,
      ...(target !== undefined ? { target } : {}),
      ...(keyword === 'module' ? { passed: moduleParams(tokens, i) } : {}),
    });
  });
  scan(tokens, file, skip);
  return file;
}
