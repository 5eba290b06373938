import { InvalidTokenRequestError } from './errors';

/**
 * `application/x-www-form-urlencoded` decoding of one name or value (RFC 6749 Appendix B): `+` is a
 * space, then percent-decoding as UTF-8. Values without either (the common case) are returned as is.
 * @throws InvalidTokenRequestError when a percent escape is malformed
 */
export function formDecode(value: string): string {
  if (!value.includes('%') && !value.includes('+')) return value;
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw new InvalidTokenRequestError('The body is not form-urlencoded.');
  }
}

/**
 * Parses a form body into its parameters as RFC 6749 §3.2 reads a token request, and cheaper than
 * `URLSearchParams` on the token hot path. A parameter without a value (`a=`, or a bare `a`) is left
 * out: "Parameters sent without a value MUST be treated as if they were omitted". A repeat of a
 * parameter in `recognised` is refused ("MUST NOT be included more than once"); a repeat of any other
 * is ignored, as unrecognised parameters must be, and some (RFC 8707 `resource`) may legally repeat.
 * A malformed percent escape in a recognised parameter's value is refused where `URLSearchParams`
 * would silently keep the raw text; elsewhere it is ignored (an unrecognised value keeps its raw text,
 * a name that does not decode is left out, an omitted value is never decoded). Empty pairs
 * (`a=1&&b=2`) are skipped.
 * @param recognised - the parameters the caller reads
 * @throws InvalidTokenRequestError
 */
export function parseForm(body: string, recognised: ReadonlySet<string>): Map<string, string> {
  const form = new Map<string, string>();
  if (body === '') return form;
  for (const pair of body.split('&')) {
    const equals = pair.indexOf('=');
    // Checked before decoding, so an omitted parameter (or an empty pair) costs no decoding.
    if (equals < 0 || equals === pair.length - 1) continue;
    let name: string;
    try {
      name = formDecode(pair.slice(0, equals));
    } catch {
      // Not a name the caller reads, whatever it meant: ignored as unrecognised parameters must be.
      continue;
    }
    if (form.has(name)) {
      // Only a repeat pays for the lookup, so a well-formed request costs what it did.
      if (recognised.has(name))
        throw new InvalidTokenRequestError(`Parameter ${name.slice(0, 40)} is repeated.`);
      continue;
    }
    const raw = pair.slice(equals + 1);
    try {
      form.set(name, formDecode(raw));
    } catch (error) {
      // Only a value the caller reads must decode; another keeps its raw text, as in URLSearchParams.
      if (recognised.has(name)) throw error;
      form.set(name, raw);
    }
  }
  return form;
}
