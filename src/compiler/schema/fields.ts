// Small field builders so every numeric field states its range once.
import { z } from "zod";

export const positiveInt = () => z.number().int().positive();
export const nonNegativeInt = () => z.number().int().nonnegative();
export const probability = () => z.number().min(0).lt(1);
export const positive = () => z.number().positive();
