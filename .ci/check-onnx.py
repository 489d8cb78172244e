"""ONNX's own checker (full_check) and shape inference on every exported test file.

Run with Debian's /usr/bin/python3 (python3-onnx). Files whose opset is newer than the
installed onnx package knows are reported and skipped, not failed."""
import sys

import onnx
from onnx import checker, shape_inference

newest = onnx.defs.onnx_opset_version()
failed = 0
for path in sys.argv[1:]:
    model = onnx.load(path, load_external_data=False)
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset > newest:
        print(f"skip {path}: opset {opset} > {newest}, the newest this onnx {onnx.__version__} knows")
        continue
    try:
        checker.check_model(path, full_check=True)
        shape_inference.infer_shapes_path(path, path + ".inferred")
        print(f"ok   {path} (opset {opset})")
    except Exception as e:  # noqa: BLE001 - report every file
        failed += 1
        print(f"FAIL {path}: {e}")
sys.exit(1 if failed else 0)
