/**
 * Limits of Azure Table storage that input validation has to respect, because a value over them is
 * refused by storage (400 `PropertyValueTooLarge`) only after validation said yes.
 */

/**
 * Characters one String property holds: 64 KiB of UTF-16, so 32,768 UTF-16 code units, which is what
 * JavaScript's `String.length` counts (learn.microsoft.com, "Understanding the Table service data
 * model", property types; Azurite refuses `length > 32 * 1024` the same way).
 */
export const TABLE_STRING_MAX_CHARS = 32 * 1024;

/**
 * Characters a string takes inside JSON text, quotes excluded: what it costs in a property that holds
 * JSON. A quote, a backslash or a line break counts 2, another control character or a lone surrogate 6.
 */
export function jsonStringLength(value: string): number {
  return JSON.stringify(value).length - 2;
}

/**
 * `text` cut to at most `max` UTF-16 code units, one fewer when the cut would fall inside a surrogate
 * pair (a character beyond U+FFFF, such as an emoji): half a pair is no character, and a row holding one
 * is text Table storage need not accept, where a refused batch takes its other rows with it.
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}
