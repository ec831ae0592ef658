"""Floating-point operations of a model's forward pass, counted from the backend's own trace.

Counted are the matrix multiplications and convolutions (dense layers, attention's matmuls,
every convolution), a multiply-add as two operations; the element-wise work is left out, as
fvcore and timm leave it. Each backend's trace is read: the TensorFlow graph of a `tf.function`,
the jaxpr of the stateless call, PyTorch's `FlopCounterMode`. The three agree (tested), so the
count does not depend on the backend. This analysis, not the model, is backend-specific: on the
TensorFlow backend it reads the TensorFlow graph, where Keras has already loaded TensorFlow.
"""

import math

import keras
import numpy as np


def count_flops(model, batch_size=1):
    """FLOPs of one inference call of `model` on a batch of `batch_size` at its input shape.

    Args:
        model: a `keras.Model` with one input of static height, width and channels.
        batch_size: int.

    Returns:
        int, two per multiply-add of every matmul and convolution.
    """
    shape = (batch_size, *model.inputs[0].shape[1:])
    if len(model.inputs) != 1 or None in shape:
        raise ValueError(f"`model` must have one input of static shape; {model.name!r} takes {model.inputs}.")
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_flops(model, shape)
    if backend == "torch":
        return _torch_flops(model, shape)
    if backend == "tensorflow":
        return _tensorflow_flops(model, shape)
    raise ValueError(f"FLOPs are counted on the TensorFlow, JAX and PyTorch backends, not {backend!r}.")


def _jax_flops(model, shape):
    import jax

    def call(trainable, non_trainable, x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    jaxpr = jax.make_jaxpr(call)(
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        jax.ShapeDtypeStruct(shape, "float32"),
    )
    return _jaxpr_flops(jaxpr.jaxpr)


def _jaxpr_flops(jaxpr):
    flops = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            lhs, rhs = (v.aval.shape for v in eqn.invars)
            (_, rhs_contract), (_, rhs_batch) = eqn.params["dimension_numbers"]
            rhs_free = [d for i, d in enumerate(rhs) if i not in (*rhs_contract, *rhs_batch)]
            flops += 2 * math.prod(lhs) * math.prod(rhs_free)
        elif eqn.primitive.name == "conv_general_dilated":
            kernel = eqn.invars[1].aval.shape
            kernel_spec = eqn.params["dimension_numbers"].rhs_spec  # (out, in, *spatial)
            per_output = kernel[kernel_spec[1]] * math.prod(kernel[i] for i in kernel_spec[2:])
            flops += 2 * math.prod(eqn.outvars[0].aval.shape) * per_output
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    flops += _jaxpr_flops(inner)
    return flops


def _torch_flops(model, shape):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(np.zeros(shape, "float32"), training=False)
    return int(counter.get_total_flops())


def _tensorflow_flops(model, shape):
    import tensorflow as tf

    function = tf.function(lambda x: model(x, training=False))
    return _graph_flops(function.get_concrete_function(tf.TensorSpec(shape, tf.float32)).graph)


def _graph_flops(graph):
    flops = 0
    for op in graph.get_operations():
        if op.type in ("PartitionedCall", "StatefulPartitionedCall"):
            # A nested tf.function (Keras compiles grouped convolutions with XLA on TensorFlow).
            flops += _graph_flops(graph._get_function(op.get_attr("f").name).graph)
        else:
            flops += _tensorflow_op_flops(op)
    return flops


def _tensorflow_op_flops(op):
    def shape(tensor):
        return tuple(tensor.shape.as_list())

    if op.type == "MatMul":
        a, b = (shape(t) for t in op.inputs)
        m, k = a[::-1] if op.get_attr("transpose_a") else a
        n = b[0] if op.get_attr("transpose_b") else b[1]
        return 2 * m * n * k
    if op.type in ("BatchMatMulV2", "BatchMatMulV3"):
        a = shape(op.inputs[0])
        k = a[-2] if op.get_attr("adj_x") else a[-1]
        return 2 * math.prod(shape(op.outputs[0])) * k
    if op.type == "Conv2D":
        kernel = shape(op.inputs[1])  # (h, w, in / groups, out)
        return 2 * math.prod(shape(op.outputs[0])) * math.prod(kernel[:3])
    if op.type == "DepthwiseConv2dNative":
        kernel = shape(op.inputs[1])  # (h, w, channels, multiplier)
        return 2 * math.prod(shape(op.outputs[0])) * math.prod(kernel[:2])
    return 0
