from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Compression(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPRESSION_NONE: _ClassVar[Compression]
    COMPRESSION_ZSTD: _ClassVar[Compression]
COMPRESSION_NONE: Compression
COMPRESSION_ZSTD: Compression

class Sample(_message.Message):
    __slots__ = ("response_id", "sample_index", "payload", "compression", "uncompressed_size", "dtype", "shape", "unit_samples")
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_INDEX_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    UNCOMPRESSED_SIZE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    response_id: int
    sample_index: int
    payload: bytes
    compression: Compression
    uncompressed_size: int
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    unit_samples: int
    def __init__(self, response_id: _Optional[int] = ..., sample_index: _Optional[int] = ..., payload: _Optional[bytes] = ..., compression: _Optional[_Union[Compression, str]] = ..., uncompressed_size: _Optional[int] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., unit_samples: _Optional[int] = ...) -> None: ...

class SampleBatch(_message.Message):
    __slots__ = ("samples",)
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    def __init__(self, samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ...) -> None: ...

class NodeTiming(_message.Message):
    __slots__ = ("received_ns", "decompressed_ns", "computed_ns", "sent_ns", "picked_ns")
    RECEIVED_NS_FIELD_NUMBER: _ClassVar[int]
    DECOMPRESSED_NS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_NS_FIELD_NUMBER: _ClassVar[int]
    SENT_NS_FIELD_NUMBER: _ClassVar[int]
    PICKED_NS_FIELD_NUMBER: _ClassVar[int]
    received_ns: int
    decompressed_ns: int
    computed_ns: int
    sent_ns: int
    picked_ns: int
    def __init__(self, received_ns: _Optional[int] = ..., decompressed_ns: _Optional[int] = ..., computed_ns: _Optional[int] = ..., sent_ns: _Optional[int] = ..., picked_ns: _Optional[int] = ...) -> None: ...

class SampleResult(_message.Message):
    __slots__ = ("response_id", "kind", "payload", "n_tokens", "timing", "error")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_FINAL: _ClassVar[SampleResult.Kind]
        KIND_FIRST_TOKEN: _ClassVar[SampleResult.Kind]
    KIND_FINAL: SampleResult.Kind
    KIND_FIRST_TOKEN: SampleResult.Kind
    RESPONSE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    N_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TIMING_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    response_id: int
    kind: SampleResult.Kind
    payload: bytes
    n_tokens: int
    timing: NodeTiming
    error: str
    def __init__(self, response_id: _Optional[int] = ..., kind: _Optional[_Union[SampleResult.Kind, str]] = ..., payload: _Optional[bytes] = ..., n_tokens: _Optional[int] = ..., timing: _Optional[_Union[NodeTiming, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class ResponseBatch(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SampleResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SampleResult, _Mapping]]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("name", "backend", "version", "compressions", "capacity", "workers", "max_batch", "max_message_bytes", "backend_options", "engine")
    class BackendOptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class EngineEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    BACKEND_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    name: str
    backend: str
    version: str
    compressions: _containers.RepeatedScalarFieldContainer[Compression]
    capacity: float
    workers: int
    max_batch: int
    max_message_bytes: int
    backend_options: _containers.ScalarMap[str, str]
    engine: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., backend: _Optional[str] = ..., version: _Optional[str] = ..., compressions: _Optional[_Iterable[_Union[Compression, str]]] = ..., capacity: _Optional[float] = ..., workers: _Optional[int] = ..., max_batch: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., backend_options: _Optional[_Mapping[str, str]] = ..., engine: _Optional[_Mapping[str, str]] = ...) -> None: ...

class FlushRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FlushReply(_message.Message):
    __slots__ = ("pending",)
    PENDING_FIELD_NUMBER: _ClassVar[int]
    pending: int
    def __init__(self, pending: _Optional[int] = ...) -> None: ...
