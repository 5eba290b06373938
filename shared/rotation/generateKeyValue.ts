import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A new endpoint key: 44 letters and digits (~262 bits), drawn without modulo bias. Letters and digits
 * only, because the format Azure ML accepts for `keyValue` is undocumented and its own keys look so.
 */
export function generateKeyValue(length = 44): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: bytes above it would favour the first characters.
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}
