// Resampling shared by every image source: the centred square crop of a w×h image, area-averaged
// to size×size, as per-axis lists of the source pixels each output pixel covers.

export interface Tap {
  index: number;
  weight: number;
}

/** Per output column (xs) and row (ys), the source columns and rows it covers. */
export interface Taps {
  xs: Tap[][];
  ys: Tap[][];
}

/**
 * For each of `n` output pixels along an axis, the source pixels in [from, from + span) that it
 * covers and by how much (weights summing to 1): area averaging, so that downscaling a photo
 * averages the pixels it merges instead of picking one of them (nearest-neighbour aliases).
 */
function coverage(from: number, span: number, n: number): Tap[][] {
  const scale = span / n;
  return Array.from({ length: n }, (_, i) => {
    const a = from + i * scale;
    const b = a + scale;
    const taps: Tap[] = [];
    for (let k = Math.floor(a); k < Math.ceil(b - 1e-9); k++) {
      const w = Math.min(b, k + 1) - Math.max(a, k);
      if (w > 1e-9) taps.push({ index: k, weight: w / scale });
    }
    return taps;
  });
}

/**
 * The taps of the centred square crop of a width×height image (as torchvision's Resize +
 * CenterCrop; squashing would distort it), resampled to size×size.
 */
export function centredSquare(width: number, height: number, size: number): Taps {
  const side = Math.min(width, height);
  return {
    xs: coverage(Math.floor((width - side) / 2), side, size),
    ys: coverage(Math.floor((height - side) / 2), side, size),
  };
}

/** Output pixel (x, y): the weighted mean of the source pixels it covers, `at(row, column)` each. */
export function areaMean(
  taps: Taps,
  x: number,
  y: number,
  at: (row: number, column: number) => number,
): number {
  let v = 0;
  for (const ty of taps.ys[y] ?? []) {
    for (const tx of taps.xs[x] ?? []) v += ty.weight * tx.weight * at(ty.index, tx.index);
  }
  return v;
}
