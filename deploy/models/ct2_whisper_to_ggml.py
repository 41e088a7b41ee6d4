#!/usr/bin/env python3
"""Converts a Whisper model in CTranslate2 format (model.bin, as faster-whisper ships it) into
the ggml file whisper.cpp loads (what `sunomi-control`'s offline captions run on).

Standard library only, so setup needs no numpy or torch:
  ct2_whisper_to_ggml.py MODEL_BIN WHISPER_ASSETS_DIR OUT

MODEL_BIN           CTranslate2 WhisperSpec model.bin (weights in float16 or float32)
WHISPER_ASSETS_DIR  `whisper/assets` of the openai-whisper source distribution (MIT):
                    mel_filters.npz and the tiktoken vocabularies
OUT                 the ggml file to write

What it does: reads every CTranslate2 variable, renames it to the PyTorch name whisper.cpp
expects, splits CTranslate2's fused attention projections (q|k|v for self-attention, k|v for
cross-attention) back into separate tensors (the key projection has no bias in Whisper; the
zeros CTranslate2 fused in are dropped), and writes whisper.cpp's header (hyper-parameters,
the 80-bin mel filter bank, the byte-level vocabulary) followed by the tensors: matrices in
float16, vectors, the conv biases and the positional embeddings in float32, as whisper.cpp's
loader checks.
"""
import base64
import struct
import sys
import zipfile
from pathlib import Path

GGML_MAGIC = 0x67676D6C
# CTranslate2 DataType enum: float32, int8, int16, int32, float16, bfloat16.
CT2_DTYPES = {0: ("f", 4), 1: ("b", 1), 2: ("h", 2), 3: ("i", 4), 4: ("e", 2)}


def read_ct2(path):
    """Returns {name: (shape, dtype, raw bytes)} of a CTranslate2 model.bin (binary version 6)."""
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def string():
        nonlocal pos
        (n,) = take("H")
        s = data[pos : pos + n - 1].decode()
        pos += n
        return s

    (version,) = take("I")
    if version < 5:
        sys.exit(f"unsupported CTranslate2 binary version {version}")
    spec = string()
    if spec != "WhisperSpec":
        sys.exit(f"not a Whisper model: {spec}")
    take("I")  # spec revision
    (count,) = take("I")
    variables = {}
    for _ in range(count):
        name = string()
        (rank,) = take("B")
        shape = take("I" * rank)
        (dtype,) = take("B")
        (nbytes,) = take("I")
        variables[name] = (shape, dtype, data[pos : pos + nbytes])
        pos += nbytes
    (aliases,) = take("I")
    for _ in range(aliases):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def scalar(variables, name):
    shape, dtype, raw = variables[name]
    fmt, _ = CT2_DTYPES[dtype]
    return struct.unpack("<" + fmt, raw)[0]


def as_f32(dtype, raw):
    fmt, size = CT2_DTYPES[dtype]
    if fmt == "f":
        return raw
    n = len(raw) // size
    return struct.pack(f"<{n}f", *struct.unpack(f"<{n}{fmt}", raw))


def as_f16(dtype, raw):
    fmt, size = CT2_DTYPES[dtype]
    if fmt == "e":
        return raw
    n = len(raw) // size
    return struct.pack(f"<{n}e", *struct.unpack(f"<{n}{fmt}", raw))


def split_rows(shape, dtype, raw, parts):
    """Splits a row-major tensor into `parts` equal blocks of rows."""
    rows = shape[0] // parts
    step = len(raw) // parts
    return [((rows,) + tuple(shape[1:]), dtype, raw[i * step : (i + 1) * step]) for i in range(parts)]


def torch_tensors(v, n_enc, n_dec):
    """Yields (pytorch name, (shape, dtype, raw)) in whisper.cpp's naming."""

    def linear(src, dst, bias=True):
        yield f"{dst}.weight", v[f"{src}/weight"]
        if bias:
            yield f"{dst}.bias", v[f"{src}/bias"]

    def norm(src, dst):
        yield f"{dst}.weight", v[f"{src}/gamma"]
        yield f"{dst}.bias", v[f"{src}/beta"]

    def fused(src, dsts, has_bias):
        weights = split_rows(*v[f"{src}/weight"], len(dsts))
        biases = split_rows(*v[f"{src}/bias"], len(dsts))
        for dst, weight, bias, keep in zip(dsts, weights, biases, has_bias):
            yield f"{dst}.weight", weight
            if keep:
                yield f"{dst}.bias", bias

    def block(src, dst, cross):
        yield from norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        yield from fused(
            f"{src}/self_attention/linear_0",
            [f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"],
            [True, False, True],
        )
        yield from linear(f"{src}/self_attention/linear_1", f"{dst}.attn.out")
        if cross:
            yield from norm(f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
            yield from linear(f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
            yield from fused(
                f"{src}/attention/linear_1",
                [f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"],
                [False, True],
            )
            yield from linear(f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
        yield from norm(f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
        yield from linear(f"{src}/ffn/linear_0", f"{dst}.mlp.0")
        yield from linear(f"{src}/ffn/linear_1", f"{dst}.mlp.2")

    yield from linear("encoder/conv1", "encoder.conv1")
    yield from linear("encoder/conv2", "encoder.conv2")
    yield "encoder.positional_embedding", v["encoder/position_encodings/encodings"]
    for i in range(n_enc):
        yield from block(f"encoder/layer_{i}", f"encoder.blocks.{i}", cross=False)
    yield from norm("encoder/layer_norm", "encoder.ln_post")
    yield "decoder.token_embedding.weight", v["decoder/embeddings/weight"]
    yield "decoder.positional_embedding", v["decoder/position_encodings/encodings"]
    for i in range(n_dec):
        yield from block(f"decoder/layer_{i}", f"decoder.blocks.{i}", cross=True)
    yield from norm("decoder/layer_norm", "decoder.ln")


def read_npy(blob):
    """Returns (shape, float32 bytes) of a little-endian float32 .npy array."""
    if blob[:6] != b"\x93NUMPY":
        sys.exit("mel filters: not an npy array")
    (header_len,) = struct.unpack_from("<H", blob, 8)
    header = blob[10 : 10 + header_len].decode()
    if "'<f4'" not in header or "True" in header:
        sys.exit(f"mel filters: unexpected array {header}")
    shape = tuple(int(x) for x in header.split("(")[1].split(")")[0].split(",") if x.strip())
    return shape, blob[10 + header_len :]


def count_layers(v, side):
    n = 0
    while f"{side}/layer_{n}/ffn/linear_0/weight" in v:
        n += 1
    return n


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model, assets, out = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    v = read_ct2(model)
    n_enc, n_dec = count_layers(v, "encoder"), count_layers(v, "decoder")
    n_vocab, n_text_state = v["decoder/embeddings/weight"][0]
    n_audio_ctx, n_audio_state = v["encoder/position_encodings/encodings"][0]
    n_text_ctx = v["decoder/position_encodings/encodings"][0][0]
    n_mels = v["encoder/conv1/weight"][0][1]
    hparams = [
        n_vocab, n_audio_ctx, n_audio_state, scalar(v, "encoder/num_heads"), n_enc,
        n_text_ctx, n_text_state, scalar(v, "decoder/num_heads"), n_dec, n_mels, 1,
    ]
    filters_shape, filters = read_npy(zipfile.ZipFile(assets / "mel_filters.npz").read(f"mel_{n_mels}.npy"))
    # English-only models (51864 tokens) use GPT-2's vocabulary, multilingual ones their own.
    vocab_file = assets / ("multilingual.tiktoken" if n_vocab >= 51865 else "gpt2.tiktoken")
    tokens = [base64.b64decode(line.split()[0]) for line in vocab_file.read_text().splitlines() if line]

    with open(out, "wb") as f:
        f.write(struct.pack("<I", GGML_MAGIC))
        f.write(struct.pack(f"<{len(hparams)}i", *hparams))
        f.write(struct.pack("<ii", *filters_shape))
        f.write(filters)
        f.write(struct.pack("<i", len(tokens)))
        for token in tokens:
            f.write(struct.pack("<i", len(token)) + token)
        written = 0
        for name, (shape, dtype, raw) in torch_tensors(v, n_enc, n_dec):
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                shape = (shape[0], 1)
            keep_f32 = len(shape) < 2 or name.endswith((".bias", "positional_embedding"))
            body = as_f32(dtype, raw) if keep_f32 else as_f16(dtype, raw)
            key = name.encode()
            f.write(struct.pack("<iii", len(shape), len(key), 0 if keep_f32 else 1))
            f.write(struct.pack(f"<{len(shape)}i", *reversed(shape)))
            f.write(key)
            f.write(body)
            written += 1
    print(f"{out}: {n_enc}+{n_dec} layers, {n_vocab} tokens, {written} tensors")


if __name__ == "__main__":
    main()
