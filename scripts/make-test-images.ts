/**
 * Builds the small test photos shipped in assets/ from scikit-image's bundled sample data
 * (public domain / CC0, see assets/images/README.md). Run from the repository root:
 *
 *   node --import tsx scripts/make-test-images.ts [path/to/skimage/data]
 *
 * Each photo is resized so its shorter side matches, centre-cropped (sharp's lanczos3), and written
 * as an 8-bit RGB PNG at 64x64 (assets/images/64/) and 256x256 (assets/images/256/). It also draws
 * assets/masks/center-box-64.png: a 64x64 grayscale inpainting mask, white (1 = observed) with a
 * black (0 = missing) 32x32 box in the centre. The outputs are committed; tests never run this.
 */
import sharp from 'sharp';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const SOURCE_DIR = process.argv[2] ?? '/usr/lib/python3/dist-packages/skimage/data';
const PHOTOS = ['astronaut', 'camera', 'coffee', 'chelsea'];
const SIZES = [64, 256];

async function photo(name: string, size: number): Promise<Buffer> {
  return sharp(join(SOURCE_DIR, `${name}.png`))
    .resize({ width: size, height: size, fit: 'cover', position: 'centre', kernel: 'lanczos3' })
    .toColourspace('srgb') // camera.png is grayscale: store it as RGB like the others
    .png({ compressionLevel: 9, adaptiveFiltering: true })
    .toBuffer();
}

/** 1 outside the central box, 0 inside: the box spans [size/4, 3*size/4) on both axes. */
async function centerBoxMask(size: number): Promise<Buffer> {
  const pixels = Buffer.alloc(size * size, 255);
  for (let y = size / 4; y < (3 * size) / 4; y++)
    pixels.fill(0, y * size + size / 4, y * size + (3 * size) / 4);
  return sharp(pixels, { raw: { width: size, height: size, channels: 1 } })
    .toColourspace('b-w')
    .png({ compressionLevel: 9 })
    .toBuffer();
}

async function main(): Promise<void> {
  let total = 0;
  for (const size of SIZES) {
    const dir = join('assets', 'images', String(size));
    await mkdir(dir, { recursive: true });
    for (const name of PHOTOS) {
      const png = await photo(name, size);
      await writeFile(join(dir, `${name}.png`), png);
      total += png.length;
      console.log(`${join(dir, name)}.png  ${png.length} bytes`);
    }
  }
  await mkdir(join('assets', 'masks'), { recursive: true });
  const mask = await centerBoxMask(64);
  await writeFile(join('assets', 'masks', 'center-box-64.png'), mask);
  total += mask.length;
  console.log(`assets/masks/center-box-64.png  ${mask.length} bytes\ntotal ${total} bytes`);
}

await main();
