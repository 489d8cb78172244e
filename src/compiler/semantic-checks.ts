// Checks that types cannot express: divisibility of channels, windows and patches, and
// settings that only make sense together. Every check reports the path, the offending
// value and a hint with valid alternatives; all of them run, none stops the others.
import { type Diagnostic, error, type SpecPath, warning } from "./diagnostics.ts";
import type { ResolvedImageSpec, ResolvedLatentSpec, ResolvedSpec } from "./resolve-defaults.ts";

export function divisors(n: number): number[] {
  const small: number[] = [];
  const large: number[] = [];
  for (let d = 1; d * d <= n; d++) {
    if (n % d !== 0) continue;
    small.push(d);
    if (d * d !== n) large.unshift(n / d);
  }
  return [...small, ...large];
}

/** Up to three valid values closest to `value`. */
function nearest(valid: readonly number[], value: number): string {
  const picks = [...valid].sort((a, b) => Math.abs(a - value) - Math.abs(b - value) || a - b).slice(0, 3);
  picks.sort((a, b) => a - b);
  return picks.length === 1 ? String(picks[0]) : `${picks.slice(0, -1).join(", ")} or ${picks.at(-1)}`;
}

function mustDivide(
  out: Diagnostic[],
  code: "DF301" | "DF302" | "DF303" | "DF305" | "DF306",
  path: SpecPath,
  divisor: number,
  whole: number,
  what: string,
): void {
  if (whole % divisor === 0) return;
  const field = String(path[path.length - 1]);
  out.push(
    error(
      code,
      path,
      `${field} ${divisor} does not divide ${what}`,
      `use ${nearest(divisors(whole), divisor)}`,
    ),
  );
}

function checkMlp(out: Diagnostic[], path: SpecPath, ratio: number, width: number): void {
  const hidden = ratio * width;
  // Tolerate float rounding (1.1 × 200 = 220.00000000000003); the IR rounds the width.
  if (Math.abs(hidden - Math.round(hidden)) < 1e-9 * Math.max(1, hidden)) return;
  const near = [Math.floor(hidden), Math.ceil(hidden)].map((u) => +(u / width).toFixed(6));
  const shown = +hidden.toFixed(6);
  out.push(
    error(
      "DF313",
      path,
      `mlpRatio ${ratio} × width ${width} = ${shown} is not a whole number of units`,
      `use ${near.join(" or ")}`,
    ),
  );
}

function checkImage(s: ResolvedImageSpec, out: Diagnostic[]): void {
  const groups = s.groupNormGroups;
  const levels = s.stages.length;
  const factor = 2 ** (levels - 1);
  if (s.input.size % factor !== 0) {
    const ok = Math.max(factor, Math.round(s.input.size / factor) * factor);
    out.push(
      error(
        "DF304",
        ["input", "size"],
        `size ${s.input.size} cannot be halved ${levels - 1} time(s) for ${levels} stages`,
        `use a multiple of ${factor} (e.g. ${ok}) or fewer stages`,
      ),
    );
  }
  // Every tensor that enters a GroupNorm: the tokenizer output, each stage's width, and
  // with concat skips the concatenation that enters the first decoder ResBlock.
  if (s.tokenizer.channels % groups !== 0) {
    out.push(
      error(
        "DF302",
        ["tokenizer", "channels"],
        `groupNormGroups (${groups}) does not divide the tokenizer channels (${s.tokenizer.channels}) that the first ResBlock normalises`,
        `use a multiple of ${groups} for tokenizer.channels, or set groupNormGroups to ${nearest(divisors(s.tokenizer.channels), groups)}`,
      ),
    );
  }
  s.stages.forEach((st, i) => {
    const at: SpecPath = ["stages", i];
    const res = s.input.size / 2 ** i;
    mustDivide(out, "DF301", [...at, "heads"], st.heads, st.channels, `stage ${i} channels (${st.channels})`);
    if (st.channels % groups !== 0) {
      out.push(
        error(
          "DF302",
          [...at, "channels"],
          `groupNormGroups (${groups}) does not divide stage ${i} channels (${st.channels})`,
          `use a multiple of ${groups} for channels, or set groupNormGroups to ${nearest(divisors(st.channels), groups)}`,
        ),
      );
    }
    if (Number.isInteger(res)) {
      mustDivide(
        out,
        "DF303",
        [...at, "windowSize"],
        st.windowSize,
        res,
        `the stage ${i} resolution (${res}×${res})`,
      );
    }
    checkMlp(out, [...at, "mlpRatio"], st.mlpRatio, st.channels);
    const below = s.stages[i + 1];
    if (s.skip === "concat" && below && (below.channels + st.channels) % groups !== 0) {
      out.push(
        error(
          "DF302",
          [...at, "channels"],
          `groupNormGroups (${groups}) does not divide the concatenated skip (${below.channels} + ${st.channels} channels)`,
          `use channels that are multiples of ${groups}, or skip "add"`,
        ),
      );
    }
  });
  checkTimeWidth(out, ["time", "sinusoidDim"], s.time.sinusoidDim);
}

function checkLatent(s: ResolvedLatentSpec, out: Diagnostic[]): void {
  mustDivide(out, "DF305", ["patchSize"], s.patchSize, s.input.size, `the latent size (${s.input.size})`);
  const grid = s.input.size / s.patchSize;
  if (Number.isInteger(grid)) {
    mustDivide(out, "DF306", ["window"], s.window, grid, `the ${grid}×${grid} token grid`);
  }
  mustDivide(out, "DF301", ["heads"], s.heads, s.hidden, `hidden (${s.hidden})`);
  checkMlp(out, ["mlpRatio"], s.mlpRatio, s.hidden);
  if (s.positionEmbedding === "sincos-2d" && s.hidden % 4 !== 0) {
    out.push(
      error(
        "DF317",
        ["hidden"],
        `the 2-D sin-cos table needs hidden divisible by 4, got ${s.hidden}`,
        `use ${Math.max(4, s.hidden - (s.hidden % 4))} or ${s.hidden - (s.hidden % 4) + 4}, or positionEmbedding "learned"`,
      ),
    );
  }
  checkTimeWidth(out, ["time", "sinusoidDim"], s.time.sinusoidDim);
  const learned = s.diffusion.kind === "ddpm" && s.diffusion.variance === "learned-range";
  if (learned && !s.learnSigma) {
    out.push(
      error(
        "DF310",
        ["diffusion", "variance"],
        "learned-range variance needs the model to output v (learnSigma: true)",
        'set learnSigma to true, or variance to "fixed-small"',
      ),
    );
  }
  if (!learned && s.learnSigma) {
    const variance = s.diffusion.kind === "ddpm" ? `variance "${s.diffusion.variance}"` : "EDM";
    out.push({
      ...warning(
        "DF318",
        ["learnSigma"],
        `learnSigma (default true) doubles the output channels, but ${variance} never uses them`,
        "set learnSigma to false",
      ),
      // learnSigma is often not written at all; point at the setting that makes it useless.
      locateAt: s.diffusion.kind === "ddpm" ? ["diffusion", "variance"] : ["diffusion"],
    });
  }
}

function checkTimeWidth(out: Diagnostic[], path: SpecPath, width: number): void {
  if (width % 2 !== 0) {
    out.push(
      error(
        "DF312",
        path,
        `sinusoid width ${width} must be even (half sin, half cos)`,
        `use ${Math.max(2, width - 1)} or ${width + 1}`,
      ),
    );
  }
}

function checkShared(s: ResolvedSpec, out: Diagnostic[]): void {
  const { classes, labelDropout, nullClass } = s.conditioning;
  const { guidance, sampler } = s.sampling;
  if (classes === 0 && labelDropout > 0) {
    out.push(
      error(
        "DF308",
        ["conditioning", "labelDropout"],
        `label dropout ${labelDropout} on an unconditional model`,
        "set conditioning.classes, or remove labelDropout",
      ),
    );
  }
  if (classes > 0 && labelDropout > 0 && !nullClass) {
    out.push(
      error(
        "DF316",
        ["conditioning", "nullClass"],
        "label dropout replaces labels by the null class, which is disabled",
        "set nullClass to true",
      ),
    );
  }
  if (guidance.scale !== 1) {
    if (classes === 0) {
      out.push(
        error(
          "DF307",
          ["sampling", "guidance", "scale"],
          `guidance scale ${guidance.scale} on an unconditional model`,
          "set the scale to 1, or make the model conditional (conditioning.classes)",
        ),
      );
    } else if (!nullClass) {
      out.push(
        error(
          "DF316",
          ["conditioning", "nullClass"],
          `classifier-free guidance (scale ${guidance.scale}) needs the null class`,
          "set nullClass to true, or sampling.guidance.scale to 1",
        ),
      );
    }
  }
  const dataChannels = s.input.channels;
  // Guided channels matter only when guidance is on (the latent default [0, 1, 2] is then checked too).
  if (guidance.channels !== "all" && guidance.scale !== 1) {
    guidance.channels.forEach((c, j) => {
      if (c >= dataChannels) {
        out.push(
          error(
            "DF311",
            ["sampling", "guidance", "channels", j],
            `channel ${c} does not exist: the data has ${dataChannels} channel(s)`,
            `use 0..${dataChannels - 1}`,
          ),
        );
      }
    });
  }
  if (s.attention.mode === "time-independent") {
    out.push(
      warning(
        "DF320",
        ["attention", "mode"],
        "in time-independent mode nothing reads the time token: the network ignores the noise level" +
          (classes > 0 ? " and the class label (guidance has no effect)" : ""),
        'this is an ablation; use "tmsa" for a working model',
      ),
    );
  }
  const d = s.diffusion;
  const needs = sampler === "heun" || sampler === "euler" ? "edm" : "ddpm";
  if (d.kind !== needs) {
    out.push(
      error(
        "DF309",
        ["sampling", "sampler"],
        `sampler "${sampler}" needs ${needs} diffusion, but diffusion.kind is "${d.kind}"`,
        needs === "edm" ? 'use "ddpm" or "ddim"' : 'use "heun" or "euler"',
      ),
    );
  }
  if (d.kind === "edm" && d.sigmaMin >= d.sigmaMax) {
    out.push(
      error(
        "DF314",
        ["diffusion", "sigmaMin"],
        `sigmaMin (${d.sigmaMin}) must be below sigmaMax (${d.sigmaMax})`,
        "EDM uses 0.002 and 80",
      ),
    );
  }
  if (d.kind === "ddpm" && (d.betaStart >= d.betaEnd || d.betaEnd >= 1)) {
    out.push(
      error(
        "DF315",
        ["diffusion", "betaEnd"],
        `need betaStart (${d.betaStart}) < betaEnd (${d.betaEnd}) < 1`,
        "ADM uses 0.0001 and 0.02",
      ),
    );
  }
  const { warmupSteps, steps } = s.training;
  if (steps !== undefined && warmupSteps > steps) {
    out.push(
      warning(
        "DF319",
        ["training", "warmupSteps"],
        `warm-up (${warmupSteps} steps) is longer than training (${steps} steps)`,
        `use at most ${steps}`,
      ),
    );
  }
}

export function semanticChecks(spec: ResolvedSpec): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (spec.family === "image") checkImage(spec, out);
  else checkLatent(spec, out);
  checkShared(spec, out);
  return out;
}
