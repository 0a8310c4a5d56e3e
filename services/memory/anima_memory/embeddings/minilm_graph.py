"""The ONNX graph of all-MiniLM-L6-v2 (BERT encoder, mean pooling, L2 normalization),
built straight from the model's safetensors weights.

We write the graph ourselves instead of exporting it from PyTorch: an export needs torch
and transformers (gigabytes) installed, or a generated .onnx file shipped and kept in step
with the weights. The model is small and fixed, so the graph is a page of code and builds
in a fraction of a second. It uses standard opset-17 operators only; ONNX Runtime's own
optimizer fuses what it can (MatMul + bias + GELU into BiasGelu). Hand-written contrib ops
(Attention, SkipLayerNormalization) measured slower on CPU, so they are not used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
OUTPUT = "sentence_embedding"

OPSET = 17
# Opset 17 needs IR version 8; pinned so ONNX Runtime builds older than the onnx package
# (whose default IR version moves ahead) still load the model.
IR_VERSION = 8
# Added to the attention score of a padded key: its softmax weight becomes exactly 0.
_MASKED = -1.0e9

Weights = Mapping[str, npt.NDArray[Any]]


@dataclass(frozen=True, slots=True)
class BertConfig:
    """The parts of a BERT config.json the graph depends on."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    layer_norm_eps: float
    max_positions: int

    @classmethod
    def from_file(cls, path: Path) -> BertConfig:
        raw = json.loads(path.read_text())
        if raw.get("hidden_act") != "gelu":
            raise ValueError(f"{path}: hidden_act is {raw.get('hidden_act')!r}, expected 'gelu'")
        if raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute position embeddings are supported")
        config = cls(
            vocab_size=int(raw["vocab_size"]),
            hidden_size=int(raw["hidden_size"]),
            num_layers=int(raw["num_hidden_layers"]),
            num_heads=int(raw["num_attention_heads"]),
            intermediate_size=int(raw["intermediate_size"]),
            layer_norm_eps=float(raw["layer_norm_eps"]),
            max_positions=int(raw["max_position_embeddings"]),
        )
        if config.hidden_size % config.num_heads:
            raise ValueError(f"{path}: hidden_size is not a multiple of num_attention_heads")
        return config


def load_weights(path: Path) -> dict[str, npt.NDArray[Any]]:
    return load_file(path)


def build_minilm_graph(weights: Weights, config: BertConfig) -> onnx.ModelProto:
    """The sentence-transformers pipeline (Transformer, mean pooling, Normalize) as one graph.

    Inputs `input_ids` and `attention_mask`: int64 [batch, seq], seq <= max_positions, each
    row one single-segment sentence, right-padded. Output `sentence_embedding`: float32
    [batch, hidden], rows of unit length. Raises ValueError if a weight is missing or has
    the wrong shape.
    """
    _check_weights(weights, config)
    return _Builder(weights, config).build()


def _expected_shapes(c: BertConfig) -> dict[str, tuple[int, ...]]:
    h, i = c.hidden_size, c.intermediate_size
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (c.vocab_size, h),
        "embeddings.position_embeddings.weight": (c.max_positions, h),
        "embeddings.token_type_embeddings.weight": (-1, h),
        "embeddings.LayerNorm.weight": (h,),
        "embeddings.LayerNorm.bias": (h,),
    }
    for n in range(c.num_layers):
        p = f"encoder.layer.{n}"
        for name in ("query", "key", "value"):
            shapes[f"{p}.attention.self.{name}.weight"] = (h, h)
            shapes[f"{p}.attention.self.{name}.bias"] = (h,)
        shapes[f"{p}.attention.output.dense.weight"] = (h, h)
        shapes[f"{p}.intermediate.dense.weight"] = (i, h)
        shapes[f"{p}.intermediate.dense.bias"] = (i,)
        shapes[f"{p}.output.dense.weight"] = (h, i)
        for name in ("attention.output.dense.bias", "output.dense.bias"):
            shapes[f"{p}.{name}"] = (h,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{p}.{norm}.weight"] = (h,)
            shapes[f"{p}.{norm}.bias"] = (h,)
    return shapes


def _check_weights(weights: Weights, config: BertConfig) -> None:
    for name, shape in _expected_shapes(config).items():
        if name not in weights:
            raise ValueError(f"weight {name} is missing")
        array = weights[name]
        if array.dtype != np.float32:
            raise ValueError(f"weight {name} is {array.dtype}, expected float32")
        if len(array.shape) != len(shape) or any(
            want not in (-1, got) for want, got in zip(shape, array.shape, strict=True)
        ):
            raise ValueError(f"weight {name} has shape {array.shape}, expected {shape}")


class _Builder:
    def __init__(self, weights: Weights, config: BertConfig) -> None:
        self.w = weights
        self.c = config
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._names: set[str] = set()

    def const(self, name: str, array: npt.NDArray[Any]) -> str:
        """An initializer; a name seen before is the same constant, reused."""
        if name not in self._names:
            self._names.add(name)
            self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], *, out: str | None = None, **attrs: Any) -> str:
        out = out or f"{op_type.lower()}_{len(self.nodes)}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def ints(self, name: str, *values: int) -> str:
        return self.const(name, np.array(values, np.int64))

    def scalar(self, name: str, value: float) -> str:
        return self.const(name, np.array(value, np.float32))

    def param(self, name: str) -> str:
        return self.const(name, self.w[name])

    def linear(self, x: str, prefix: str, scale: float = 1.0) -> str:
        """(x @ W^T + b) * scale, for a torch Linear stored as weight [out, in], bias [out]."""
        s = np.float32(scale)
        weight = self.const(f"{prefix}.weight_t", self.w[f"{prefix}.weight"].T * s)
        bias = self.const(f"{prefix}.bias_scaled", self.w[f"{prefix}.bias"] * s)
        return self.op("Add", [self.op("MatMul", [x, weight]), bias])

    def layer_norm(self, x: str, prefix: str) -> str:
        inputs = [x, self.param(f"{prefix}.weight"), self.param(f"{prefix}.bias")]
        return self.op("LayerNormalization", inputs, axis=-1, epsilon=self.c.layer_norm_eps)

    def build(self) -> onnx.ModelProto:
        c = self.c
        dims = ["batch", "seq"]
        inputs = [
            helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, dims),
            helper.make_tensor_value_info(ATTENTION_MASK, TensorProto.INT64, dims),
        ]
        output = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", c.hidden_size])

        hidden = self.embeddings()
        mask = self.op("Cast", [ATTENTION_MASK], to=TensorProto.FLOAT)  # [B, S]
        key_bias = self.attention_bias(mask)
        for layer in range(c.num_layers):
            hidden = self.encoder_layer(hidden, key_bias, f"encoder.layer.{layer}")
        self.pool_and_normalize(hidden, mask)

        graph = helper.make_graph(
            self.nodes, "all-MiniLM-L6-v2", inputs, [output], initializer=self.initializers
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        return model

    def embeddings(self) -> str:
        # Every sentence is segment 0, so that token-type row folds into the position table.
        e = "embeddings"
        table = (
            self.w[f"{e}.position_embeddings.weight"]
            + self.w[f"{e}.token_type_embeddings.weight"][0]
        )
        words = self.op("Gather", [self.param(f"{e}.word_embeddings.weight"), INPUT_IDS])
        seq_len = self.op(
            "Slice", [self.op("Shape", [INPUT_IDS]), self.ints("i64_1", 1), self.ints("i64_2", 2)]
        )
        zero = self.ints("i64_0", 0)
        positions = self.op("Slice", [self.const("position_and_type", table), zero, seq_len, zero])
        return self.layer_norm(self.op("Add", [words, positions]), f"{e}.LayerNorm")

    def attention_bias(self, mask: str) -> str:
        """[B, 1, 1, S]: 0 for a real key, _MASKED for padding."""
        padding = self.op("Sub", [self.scalar("one_f", 1.0), mask])
        bias = self.op("Mul", [padding, self.scalar("masked", _MASKED)])
        return self.op("Unsqueeze", [bias, self.ints("axes_1_2", 1, 2)])

    def encoder_layer(self, x: str, key_bias: str, p: str) -> str:
        c = self.c
        head = c.hidden_size // c.num_heads
        split_heads = self.ints("split_heads", 0, 0, c.num_heads, head)

        # Q, K and V each reshaped straight into the layout its attention MatMul wants; the
        # 1/sqrt(head) score scale is folded into the query projection.
        def heads(name: str, perm: list[int], scale: float = 1.0) -> str:
            projected = self.linear(x, f"{p}.attention.self.{name}", scale)
            return self.op("Transpose", [self.op("Reshape", [projected, split_heads])], perm=perm)

        q = heads("query", [0, 2, 1, 3], 1.0 / math.sqrt(head))  # [B, heads, S, head]
        k = heads("key", [0, 2, 3, 1])  # [B, heads, head, S]
        v = heads("value", [0, 2, 1, 3])  # [B, heads, S, head]
        scores = self.op("Add", [self.op("MatMul", [q, k]), key_bias])
        context = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        merge_heads = self.ints("merge_heads", 0, 0, c.hidden_size)
        merged = self.op(
            "Reshape", [self.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads]
        )
        attended = self.linear(merged, f"{p}.attention.output.dense")
        x = self.layer_norm(self.op("Add", [attended, x]), f"{p}.attention.output.LayerNorm")

        inner = self.gelu(self.linear(x, f"{p}.intermediate.dense"))
        out = self.linear(inner, f"{p}.output.dense")
        return self.layer_norm(self.op("Add", [out, x]), f"{p}.output.LayerNorm")

    def gelu(self, x: str) -> str:
        """Exact GELU, as BERT's "gelu": x * 0.5 * (1 + erf(x / sqrt(2)))."""
        root2 = self.scalar("sqrt2", math.sqrt(2.0))
        erf = self.op("Erf", [self.op("Div", [x, root2])])
        one_plus = self.op("Add", [erf, self.scalar("one_f", 1.0)])
        return self.op("Mul", [self.op("Mul", [x, one_plus]), self.scalar("half", 0.5)])

    def pool_and_normalize(self, hidden: str, mask: str) -> None:
        """Mean over real tokens, then divide by the L2 norm (as torch's F.normalize)."""
        weights = self.op("Unsqueeze", [mask, self.ints("axis_2", 2)])  # [B, S, 1]
        axis_1 = self.ints("axis_1", 1)
        summed = self.op("ReduceSum", [self.op("Mul", [hidden, weights]), axis_1], keepdims=0)
        count = self.op("ReduceSum", [weights, axis_1], keepdims=0)  # [B, 1]
        count = self.op("Max", [count, self.scalar("count_floor", 1e-9)])
        mean = self.op("Div", [summed, count])
        norm = self.op("ReduceL2", [mean], axes=[-1])  # opset 17: axes is still an attribute
        norm = self.op("Max", [norm, self.scalar("norm_floor", 1e-12)])
        self.op("Div", [mean, norm], out=OUTPUT)
