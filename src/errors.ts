// Errors that carry their exit code to the CLI: a usage error (2) is the caller's to fix by
// changing the command; an input error (1) by changing a spec, checkpoint or data file.
export class UsageError extends Error {
  override name = "UsageError";
}

export class InputError extends Error {
  override name = "InputError";
}
