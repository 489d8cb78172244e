// Assembles one training batch from the dataset: images (optionally flipped), labels with
// label dropout to the null class, and the step's random draws (σ and unit noise). Every
// random number comes from one seeded generator whose state is checkpointed.
import type { Dataset } from "../data/dataset.ts";
import { Rng } from "../random.ts";

export interface Batch {
  images: Float32Array;
  labels: Int32Array | undefined;
  /** Per-sample noise levels: EDM σ, or DDPM timesteps. */
  levels: number[];
  /** Unit Gaussian noise, same layout as images. */
  noise: Float32Array;
}

export interface BatchOptions {
  flip: boolean;
  conditional: boolean;
  nullLabel: number;
  labelDropout: number;
  /** Draws one sample's noise level (EDM: log-normal σ; DDPM: a uniform timestep). */
  level: (rng: Rng) => number;
}

export function makeBatch(data: Dataset, indices: readonly number[], rng: Rng, o: BatchOptions): Batch {
  const { size, channels } = data;
  const per = size * size * channels;
  const images = new Float32Array(indices.length * per);
  const labels = o.conditional ? new Int32Array(indices.length) : undefined;
  indices.forEach((idx, i) => {
    const src = data.images.subarray(idx * per, (idx + 1) * per);
    if (o.flip && rng.uniform() < 0.5) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          for (let c = 0; c < channels; c++) {
            images[i * per + (y * size + x) * channels + c] =
              src[(y * size + (size - 1 - x)) * channels + c] ?? 0;
          }
        }
      }
    } else {
      images.set(src, i * per);
    }
    if (labels) labels[i] = rng.uniform() < o.labelDropout ? o.nullLabel : (data.labels[idx] ?? 0);
  });
  const levels = indices.map(() => o.level(rng));
  const noise = new Float32Array(images.length);
  for (let i = 0; i < noise.length; i++) noise[i] = rng.normal();
  return { images, labels, levels, noise };
}

export { Rng };
