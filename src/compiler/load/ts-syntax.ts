// A TypeScript spec's syntax tree must be shallow enough for everything that recurses on it:
// TypeScript's parser, binder and checker, ts-morph and our evaluator. A 1 KB file can nest
// 1000 arrays, chain 20,000 unary minuses or property accesses; each of those overflowed the
// stack somewhere. The text is scanned for brackets first (the parser itself recurses on
// them), then parsed once, guarded, and the tree's depth measured without recursion. Also the
// small syntax questions the evaluator asks: a literal's value, whether a statement is types only.
import { Node, ts } from "ts-morph";
import { LIMITS } from "../../limits.ts";
import { type Diagnostic, error } from "../diagnostics.ts";
import { type LineIndex, tooDeepAt } from "./source-text.ts";

const HINT = "a spec needs a few levels; flatten the expression";

function tooDeep(file: string, lines: LineIndex, offset: number, what: string): Diagnostic {
  const message = `${what} nest more than ${LIMITS.tsSyntaxDepth} levels deep here`;
  return { ...error("DF108", [], message, HINT), location: { file, ...lines.at(offset) } };
}

/** The DF108 diagnostic when `text` nests too deeply to read safely, else undefined. */
export function syntaxTooDeep(file: string, text: string, lines: LineIndex): Diagnostic | undefined {
  const deep = tooDeepAt(text, LIMITS.tsSyntaxDepth);
  if (deep !== undefined) return tooDeep(file, lines, deep, "brackets");
  let sf: ts.SourceFile;
  try {
    sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  } catch (e) {
    // Operators the bracket scan does not count (`- - - 1`, `!!!x`) can still exhaust the stack.
    if (e instanceof RangeError) return tooDeep(file, lines, 0, "expressions");
    throw e;
  }
  const stack: { node: ts.Node; depth: number }[] = [{ node: sf, depth: 0 }];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const { node, depth } = top;
    if (depth > LIMITS.tsSyntaxDepth) return tooDeep(file, lines, node.getStart(sf), "expressions");
    ts.forEachChild(node, (child) => {
      stack.push({ node: child, depth: depth + 1 });
    });
  }
  return undefined;
}

/** The value of a literal (`-` on a number included), or undefined when the node is not one. */
export function literalValue(node: Node): string | number | boolean | null | undefined {
  if (Node.isStringLiteral(node) || Node.isNoSubstitutionTemplateLiteral(node)) return node.getLiteralValue();
  if (Node.isNumericLiteral(node) || Node.isTrueLiteral(node) || Node.isFalseLiteral(node)) {
    return node.getLiteralValue();
  }
  if (Node.isNullLiteral(node)) return null;
  if (Node.isPrefixUnaryExpression(node) && node.getOperatorToken() === ts.SyntaxKind.MinusToken) {
    const operand = node.getOperand();
    if (Node.isNumericLiteral(operand)) return -operand.getLiteralValue();
  }
  return undefined;
}

export const isTypeOnly = (st: Node): boolean =>
  Node.isTypeAliasDeclaration(st) ||
  Node.isInterfaceDeclaration(st) ||
  (Node.isExportDeclaration(st) && st.isTypeOnly());
