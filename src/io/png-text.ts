/**
 * PNG tEXt chunks (keyword, Latin-1 text), inserted without re-encoding the image: sharp writes
 * EXIF/XMP but not tEXt, which is what image viewers and `identify -verbose` show.
 */
import metaPng from 'meta-png';

// A UMD bundle: Node sees only its default export.
const { addMetadata, getMetadata } = metaPng;

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** tEXt is Latin-1 with no NUL: other characters become '?' rather than corrupting the chunk. */
const latin1 = (s: string): string => s.replace(/[^\x20-\x7e\xa0-\xff\n]/g, '?');

/** A copy of `png` with one tEXt chunk per entry (after IHDR, in the given order). */
export function addPngText(png: Uint8Array, entries: Record<string, string>): Uint8Array {
  let out = png;
  // Each insertion goes right after IHDR, so insert in reverse to keep the given order.
  for (const [key, value] of Object.entries(entries).reverse()) {
    out = addMetadata(out, latin1(key), latin1(value));
  }
  return out;
}

/** The text of tEXt chunk `key`, if present. */
export function readPngText(png: Uint8Array, key: string): string | undefined {
  return getMetadata(png, key);
}
