"""The import graph between ``haze_ros`` subpackages is a DAG in the declared layer order.

Static (``ast``, nothing is imported): every ``import haze_ros...`` / ``from haze_ros... import`` /
relative import in every module counts, at module level or inside a function, so an import moved
into a function to dodge a cycle still shows up. The order (DESIGN.md "Layers", issue 11), lowest
first; a subpackage imports only from layers below its own (plus the peer edges listed)::

    core                          contracts and value types: Backend, BackendSpec, frames, stages
    physics, networks             eq. (1), depth, DCP; nn.Modules
    hazing, training, export      haze-mode front end; training; ONNX / TensorRT artefacts
    backends                      runtimes behind the contract
    evaluation, bags, bench       haze_eval / haze_apply; haze_bag; haze_bench and the GPU check
    ros                           the node (rclpy)
    ros_tools                     haze_replay, haze_record, haze_demo, the node benchmark (rclpy)

``bench`` names the node benchmark (``ros_tools.bench_node``) only as a string in its suite table,
loaded when asked for, so that ``haze_bench`` runs without ROS; that is not an import.

Imports inside functions are for optional runtimes only: a function-level import of a
``haze_ros`` module is allowed when that module (through its own module-level imports) loads
torch, ONNX, ONNX Runtime, TensorRT or rclpy / message packages; anything else belongs at the top.
"""

import ast
from collections import defaultdict

from conftest import REPO

PACKAGE = REPO / "haze_ros"
LAYERS = (
    ("core",),
    ("physics", "networks"),
    ("hazing", "training", "export"),
    ("backends",),
    ("evaluation", "bags", "bench"),
    ("ros",),
    ("ros_tools",),
)
# imports between subpackages of the same layer that the order allows (none form a cycle)
PEER_EDGES = {("training", "hazing")}
# what a lazy import may be for: the top-level names of optional runtimes
OPTIONAL_RUNTIMES = {"torch", "torchvision", "safetensors", "onnx", "onnxruntime", "tensorrt", "pycuda",
                     "rclpy", "rcl_interfaces", "builtin_interfaces", "launch", "launch_ros"}
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    """``{module name: (path, is_package)}`` for every .py file under haze_ros/."""
    return {_module_name(p): (p, p.name == "__init__.py") for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(module, path, is_package):
    """``(target module names, lineno, in_function)`` for each import statement of ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.append(([alias.name for alias in child.names], child.lineno, in_function))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".")
                    anchor = anchor[:len(anchor) - child.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([base] if base else []))
                # ``from pkg import name``: the submodule pkg.name when there is one, else pkg
                found.append(([base] + [f"{base}.{alias.name}" for alias in child.names], child.lineno,
                              in_function))
            visit(child, inside)

    visit(tree, False)
    return found


def _subpackage(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYER_OF) else None


def _graph():
    """Edges ``(from subpackage, to subpackage) -> ["file:line", ...]`` between haze_ros subpackages."""
    modules = _modules()
    edges = defaultdict(list)
    for module, (path, is_package) in modules.items():
        source = _subpackage(module)
        for targets, lineno, _ in _imports(module, path, is_package):
            for target in targets:
                if target not in modules:
                    continue
                dest = _subpackage(target)
                if source and dest and dest != source:
                    edges[(source, dest)].append(f"{path.relative_to(REPO)}:{lineno}")
    return edges


def _find_cycle(edges):
    graph = defaultdict(set)
    for source, dest in edges:
        graph[source].add(dest)
    state, stack = {}, []

    def dfs(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = dfs(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = dfs(node)
            if cycle:
                return cycle
    return None


def test_every_subpackage_has_a_layer():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(LAYER_OF), "add the new subpackage to LAYERS (and to README's architecture)"


def test_subpackage_imports_form_the_declared_dag():
    edges = _graph()
    cycle = _find_cycle(edges)
    assert cycle is None, "import cycle between subpackages: " + " -> ".join(cycle) + "\n" + "\n".join(
        f"  {a} -> {b}: {', '.join(edges[(a, b)])}" for a, b in zip(cycle, cycle[1:]))
    wrong = {edge: where for edge, where in edges.items()
             if not (LAYER_OF[edge[1]] < LAYER_OF[edge[0]] or edge in PEER_EDGES)}
    assert not wrong, "imports against the layer order:\n" + "\n".join(
        f"  {a} -> {b}: {', '.join(where)}" for (a, b), where in sorted(wrong.items()))


def test_the_graph_sees_imports_inside_functions(tmp_path):
    """The checker itself: a function-level import is an edge like any other."""
    path = tmp_path / "haze_ros" / "core" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text("def f():\n    from haze_ros.backends import factory\n    from ..ros import node\n")
    found = _imports("haze_ros.core.probe", path, False)
    assert found == [(["haze_ros.backends", "haze_ros.backends.factory"], 2, True),
                     (["haze_ros.ros", "haze_ros.ros.node"], 3, True)]


def _loads_optional_runtime(module, modules, seen):
    """True if ``module`` imports an optional runtime at module level, itself or through haze_ros."""
    if module in seen or module not in modules:
        return False
    seen.add(module)
    path, is_package = modules[module]
    parent = module.rsplit(".", 1)[0]
    if parent in modules and parent != module and _loads_optional_runtime(parent, modules, seen):
        return True  # importing a.b runs a/__init__.py first
    for targets, _, in_function in _imports(module, path, is_package):
        if in_function:
            continue
        for target in targets:
            top = target.split(".")[0]
            if top in OPTIONAL_RUNTIMES or top.endswith("_msgs"):
                return True
            if top == "haze_ros" and _loads_optional_runtime(target, modules, seen):
                return True
    return False


def test_imports_inside_functions_are_only_for_optional_runtimes():
    modules = _modules()
    hoist = []
    for module, (path, is_package) in modules.items():
        for targets, lineno, in_function in _imports(module, path, is_package):
            wanted = [t for t in targets if t in modules]
            if in_function and wanted and not any(_loads_optional_runtime(t, modules, set()) for t in wanted):
                hoist.append(f"{path.relative_to(REPO)}:{lineno} {wanted[-1]}")
    assert not hoist, ("imports inside functions that load no optional runtime (move them to the top "
                       "of the module):\n  " + "\n  ".join(hoist))
