// Seeded, resumable data order: a fresh permutation each epoch, drawn from a generator keyed
// by (seed, epoch), so the state to save is just (epoch, position).
import { Rng } from "../random.ts";

export interface DataOrderState {
  epoch: number;
  position: number;
}

export class DataOrder {
  private perm: Uint32Array;
  private state: DataOrderState;

  constructor(
    private readonly count: number,
    private readonly seed: number,
    state: DataOrderState = { epoch: 0, position: 0 },
  ) {
    this.state = { ...state };
    this.perm = this.permutation(state.epoch);
  }

  private permutation(epoch: number): Uint32Array {
    return new Rng(this.seed, `data-order/${epoch}`).permutation(this.count);
  }

  /** The next `n` sample indices, crossing into the next epoch when needed. */
  next(n: number): number[] {
    const out: number[] = [];
    while (out.length < n) {
      if (this.state.position >= this.count) {
        this.state = { epoch: this.state.epoch + 1, position: 0 };
        this.perm = this.permutation(this.state.epoch);
      }
      out.push(this.perm[this.state.position] ?? 0);
      this.state.position++;
    }
    return out;
  }

  snapshot(): DataOrderState {
    return { ...this.state };
  }
}
