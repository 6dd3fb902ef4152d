"""The Open Inference Protocol's gRPC messages (``inference.GRPCInferenceService``), built at run time.

The messages and the service are those of the protocol's ``grpc_predict_v2.proto``
(KServe) and the matching part of Triton's ``grpc_service.proto``: the same package,
names and field numbers, so Triton's and KServe's clients (``tritonclient.grpc``)
talk to ``fastdnn serve --grpc-port`` unchanged. Only the six calls fastdnn serves
are declared: health (live, ready, model ready), server and model metadata, and
``ModelInfer``.

The file descriptor is built here with ``descriptor_pb2`` instead of shipped as
``protoc`` output: generated modules carry the protobuf version that generated them
and refuse older or much newer runtimes, while this works with any protobuf from
4.21 on. It lives in a pool of its own, so that a client's stubs for the same
names (``tritonclient``'s, in a test or a notebook) never collide with it.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
    "float": _F.TYPE_FLOAT,
    "double": _F.TYPE_DOUBLE,
}

# (message, [(field, number, type, repeated)], nested messages); a type that is not a
# scalar names a message; "map<Value>" is a map from string to that message.
_PARAMETERS = ("parameters", 4, "map<InferParameter>", False)
_NAME_VERSION = [("name", 1, "string", False), ("version", 2, "string", False)]
_TENSOR = [
    ("name", 1, "string", False),
    ("datatype", 2, "string", False),
    ("shape", 3, "int64", True),
]
"""A tensor's description: its metadata, and the head of the inference calls' tensors."""
_CALL = [
    ("model_name", 1, "string", False),
    ("model_version", 2, "string", False),
    ("id", 3, "string", False),
    _PARAMETERS,
]
"""The head of ``ModelInferRequest`` and ``ModelInferResponse``."""
_TENSOR_DATA = [*_TENSOR, _PARAMETERS, ("contents", 5, "InferTensorContents", False)]
"""An inference call's input or output tensor."""
_MESSAGES = [
    ("ServerLiveRequest", [], []),
    ("ServerLiveResponse", [("live", 1, "bool", False)], []),
    ("ServerReadyRequest", [], []),
    ("ServerReadyResponse", [("ready", 1, "bool", False)], []),
    ("ModelReadyRequest", _NAME_VERSION, []),
    ("ModelReadyResponse", [("ready", 1, "bool", False)], []),
    ("ServerMetadataRequest", [], []),
    ("ServerMetadataResponse", [*_NAME_VERSION, ("extensions", 3, "string", True)], []),
    ("ModelMetadataRequest", _NAME_VERSION, []),
    (
        "ModelMetadataResponse",
        [
            ("name", 1, "string", False),
            ("versions", 2, "string", True),
            ("platform", 3, "string", False),
            ("inputs", 4, "ModelMetadataResponse.TensorMetadata", True),
            ("outputs", 5, "ModelMetadataResponse.TensorMetadata", True),
        ],
        [("TensorMetadata", _TENSOR, [])],
    ),
    (
        "ModelInferRequest",
        [
            *_CALL,
            ("inputs", 5, "ModelInferRequest.InferInputTensor", True),
            ("outputs", 6, "ModelInferRequest.InferRequestedOutputTensor", True),
            ("raw_input_contents", 7, "bytes", True),
        ],
        [
            ("InferInputTensor", _TENSOR_DATA, []),
            (
                "InferRequestedOutputTensor",
                [("name", 1, "string", False), ("parameters", 2, "map<InferParameter>", False)],
                [],
            ),
        ],
    ),
    (
        "ModelInferResponse",
        [
            *_CALL,
            ("outputs", 5, "ModelInferResponse.InferOutputTensor", True),
            ("raw_output_contents", 6, "bytes", True),
        ],
        [("InferOutputTensor", _TENSOR_DATA, [])],
    ),
    (
        "InferTensorContents",
        [
            ("bool_contents", 1, "bool", True),
            ("int_contents", 2, "int32", True),
            ("int64_contents", 3, "int64", True),
            ("uint_contents", 4, "uint32", True),
            ("uint64_contents", 5, "uint64", True),
            ("fp32_contents", 6, "float", True),
            ("fp64_contents", 7, "double", True),
            ("bytes_contents", 8, "bytes", True),
        ],
        [],
    ),
]  # fmt: skip

METHODS = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
}
"""Each call fastdnn serves: (request message, response message)."""


def _add_fields(message, fields, scope):
    for name, number, kind, repeated in fields:
        field = message.field.add(name=name, number=number)
        field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
        if kind in _SCALARS:
            field.type = _SCALARS[kind]
        elif kind.startswith("map<"):
            # A map is a repeated nested entry message (key = 1, value = 2) marked map_entry.
            entry = message.nested_type.add(name=name.title().replace("_", "") + "Entry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
            value = kind[4:-1]
            entry.field.add(
                name="value",
                number=2,
                type=_F.TYPE_MESSAGE,
                label=_F.LABEL_OPTIONAL,
                type_name=f".{PACKAGE}.{value}",
            )
            field.type, field.label = _F.TYPE_MESSAGE, _F.LABEL_REPEATED
            field.type_name = f".{PACKAGE}.{scope}.{entry.name}"
        else:
            field.type, field.type_name = _F.TYPE_MESSAGE, f".{PACKAGE}.{kind}"


def _add_message(container, name, fields, nested, scope):
    message = container.add(name=name)
    for nested_name, nested_fields, nested_nested in nested:
        _add_message(
            message.nested_type, nested_name, nested_fields, nested_nested, f"{scope}.{nested_name}"
        )
    _add_fields(message, fields, scope)
    return message


def file_descriptor():
    """The ``FileDescriptorProto`` of fastdnn's part of the protocol."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="fastdnn/inference.proto", package=PACKAGE, syntax="proto3"
    )
    for name, fields, nested in _MESSAGES:
        _add_message(proto.message_type, name, fields, nested, name)
    # InferParameter: one of five kinds of value.
    parameter = proto.message_type.add(name="InferParameter")
    parameter.oneof_decl.add(name="parameter_choice")
    for name, number, kind in [
        ("bool_param", 1, "bool"),
        ("int64_param", 2, "int64"),
        ("string_param", 3, "string"),
        ("double_param", 4, "double"),
        ("uint64_param", 5, "uint64"),
    ]:
        parameter.field.add(
            name=name, number=number, type=_SCALARS[kind], label=_F.LABEL_OPTIONAL, oneof_index=0
        )
    service = proto.service.add(name="GRPCInferenceService")
    for method, (request, response) in METHODS.items():
        service.method.add(
            name=method, input_type=f".{PACKAGE}.{request}", output_type=f".{PACKAGE}.{response}"
        )
    return proto


def _classes():
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_descriptor())
    names = [name for name, _, _ in _MESSAGES] + ["InferParameter"]
    get = getattr(message_factory, "GetMessageClass", None)
    if get is None:  # pragma: no cover - protobuf before 4.22
        factory = message_factory.MessageFactory(pool)
        get = factory.GetPrototype
    return {name: get(pool.FindMessageTypeByName(f"{PACKAGE}.{name}")) for name in names}


messages = _classes()
"""{message name: its class}, e.g. ``messages["ModelInferRequest"]``."""
