"""A stand-in for the parts of the TensorRT 10 Python API that ``export.tensorrt_build`` calls.

It lets the builder *logic* (profile, fp16 pinning, timing cache, progress monitor, engine cache)
run on a machine without TensorRT. It proves nothing about TensorRT itself: the real runtime is
exercised only by ``test/gpu`` on a GPU machine. The fake "engine" is JSON describing what the
builder was asked to do, so tests can assert on it.
"""

import enum
import json

__version__ = "10.0.0-fake"


class DataType(enum.Enum):
    FLOAT = "float32"
    HALF = "float16"
    INT64 = "int64"


float32, float16, int64 = DataType.FLOAT, DataType.HALF, DataType.INT64


class LayerType(enum.Enum):
    CONVOLUTION = 1
    NORMALIZATION = 2
    REDUCE = 3
    SHAPE = 4
    OTHER = 5


class BuilderFlag(enum.Enum):
    FP16 = 1
    OBEY_PRECISION_CONSTRAINTS = 2


class MemoryPoolType(enum.Enum):
    WORKSPACE = 1


class ILogger:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

    def __init__(self):
        pass


class IProgressMonitor:
    def __init__(self):
        pass


class _Tensor:
    def __init__(self, name, dtype, shape=()):
        self.name, self.dtype, self.shape = name, dtype, tuple(shape)


class _Layer:
    def __init__(self, name, layer_type, dtype=float32):
        self.name, self.type = name, layer_type
        self.precision = None
        self.output_types = {}
        self._outputs = [_Tensor(name + ":0", dtype)]
        self.num_outputs = 1

    def get_output(self, index):
        return self._outputs[index]

    def set_output_type(self, index, dtype):
        self.output_types[index] = dtype


_OP_TO_LAYER = {"Conv": LayerType.CONVOLUTION, "ConvTranspose": LayerType.CONVOLUTION,
                "InstanceNormalization": LayerType.NORMALIZATION, "ReduceMean": LayerType.REDUCE,
                "Shape": LayerType.SHAPE}


class _Network:
    def __init__(self):
        self.layers, self.inputs = [], []

    @property
    def num_layers(self):
        return len(self.layers)

    def get_layer(self, index):
        return self.layers[index]

    def get_input(self, index):
        return self.inputs[index]

    @property
    def num_inputs(self):
        return len(self.inputs)


class OnnxParser:
    def __init__(self, network, logger):
        self.network, self.errors = network, []

    def parse_from_file(self, path):
        import onnx

        try:
            model = onnx.load(path)
        except Exception as exc:
            self.errors.append(f"cannot read {path}: {exc}")
            return False
        self.network.inputs = [
            _Tensor(i.name, float32, [d.dim_value or -1 for d in i.type.tensor_type.shape.dim])
            for i in model.graph.input]
        for node in model.graph.node:
            dtype = int64 if node.op_type == "Shape" else float32
            layer_type = _OP_TO_LAYER.get(node.op_type, LayerType.OTHER)
            self.network.layers.append(_Layer(node.name, layer_type, dtype))
        return True

    @property
    def num_errors(self):
        return len(self.errors)

    def get_error(self, index):
        return self.errors[index]


class _Profile:
    def __init__(self):
        self.shapes = {}

    def set_shape(self, name, min_shape, opt_shape, max_shape):
        self.shapes[name] = [list(min_shape), list(opt_shape), list(max_shape)]


class _TimingCache:
    def __init__(self, data):
        self.entries = json.loads(data.decode()) if data else []

    def serialize(self):
        return json.dumps(self.entries).encode()


class _Config:
    def __init__(self):
        self.flags, self.profiles, self.pool = set(), [], {}
        self.progress_monitor = None
        self.timing_cache = None

    def set_memory_pool_limit(self, pool, size):
        self.pool[pool] = size

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)

    def set_flag(self, flag):
        self.flags.add(flag)

    def create_timing_cache(self, data):
        return _TimingCache(bytes(data))

    def set_timing_cache(self, cache, ignore_mismatch):
        self.timing_cache = cache
        return True

    def get_timing_cache(self):
        return self.timing_cache


class Builder:
    def __init__(self, logger):
        self.logger = logger

    def create_network(self, flags):
        assert flags == 0, "TensorRT 10: explicit batch is implicit, flags 0"
        return _Network()

    def create_builder_config(self):
        return _Config()

    def create_optimization_profile(self):
        return _Profile()

    def build_serialized_network(self, network, config):
        monitor = config.progress_monitor
        monitor.phase_start("Building engine", None, 2)
        for step in range(2):
            assert monitor.step_complete("Building engine", step) is True
        monitor.phase_finish("Building engine")
        config.timing_cache.entries.append(f"tactics-{len(config.timing_cache.entries)}")
        description = {
            "flags": sorted(f.name for f in config.flags),
            "profiles": [p.shapes for p in config.profiles],
            "fp32_layers": [layer.name for layer in network.layers if layer.precision == float32],
            "timing_entries_before": len(config.timing_cache.entries) - 1,
        }
        return json.dumps(description).encode()
