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

class SampleColumns(_message.Message):
    __slots__ = ("response_ids", "sample_indices", "payloads", "payload_ends", "compressions", "uncompressed_sizes", "dtypes", "dtype_codes", "shape_dims", "shape_ends")
    RESPONSE_IDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_INDICES_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_ENDS_FIELD_NUMBER: _ClassVar[int]
    COMPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    UNCOMPRESSED_SIZES_FIELD_NUMBER: _ClassVar[int]
    DTYPES_FIELD_NUMBER: _ClassVar[int]
    DTYPE_CODES_FIELD_NUMBER: _ClassVar[int]
    SHAPE_DIMS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_ENDS_FIELD_NUMBER: _ClassVar[int]
    response_ids: bytes
    sample_indices: bytes
    payloads: bytes
    payload_ends: bytes
    compressions: bytes
    uncompressed_sizes: bytes
    dtypes: _containers.RepeatedScalarFieldContainer[str]
    dtype_codes: bytes
    shape_dims: bytes
    shape_ends: bytes
    def __init__(self, response_ids: _Optional[bytes] = ..., sample_indices: _Optional[bytes] = ..., payloads: _Optional[bytes] = ..., payload_ends: _Optional[bytes] = ..., compressions: _Optional[bytes] = ..., uncompressed_sizes: _Optional[bytes] = ..., dtypes: _Optional[_Iterable[str]] = ..., dtype_codes: _Optional[bytes] = ..., shape_dims: _Optional[bytes] = ..., shape_ends: _Optional[bytes] = ...) -> None: ...

class SampleBatch(_message.Message):
    __slots__ = ("samples", "columns")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    columns: _containers.RepeatedCompositeFieldContainer[SampleColumns]
    def __init__(self, samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., columns: _Optional[_Iterable[_Union[SampleColumns, _Mapping]]] = ...) -> None: ...

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

class ResultColumns(_message.Message):
    __slots__ = ("response_ids", "kinds", "payloads", "payload_ends", "n_tokens", "received_ns", "picked_ns", "decompressed_ns", "computed_ns", "sent_ns", "error_rows", "errors")
    RESPONSE_IDS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_ENDS_FIELD_NUMBER: _ClassVar[int]
    N_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_NS_FIELD_NUMBER: _ClassVar[int]
    PICKED_NS_FIELD_NUMBER: _ClassVar[int]
    DECOMPRESSED_NS_FIELD_NUMBER: _ClassVar[int]
    COMPUTED_NS_FIELD_NUMBER: _ClassVar[int]
    SENT_NS_FIELD_NUMBER: _ClassVar[int]
    ERROR_ROWS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    response_ids: bytes
    kinds: bytes
    payloads: bytes
    payload_ends: bytes
    n_tokens: bytes
    received_ns: bytes
    picked_ns: bytes
    decompressed_ns: bytes
    computed_ns: bytes
    sent_ns: int
    error_rows: bytes
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, response_ids: _Optional[bytes] = ..., kinds: _Optional[bytes] = ..., payloads: _Optional[bytes] = ..., payload_ends: _Optional[bytes] = ..., n_tokens: _Optional[bytes] = ..., received_ns: _Optional[bytes] = ..., picked_ns: _Optional[bytes] = ..., decompressed_ns: _Optional[bytes] = ..., computed_ns: _Optional[bytes] = ..., sent_ns: _Optional[int] = ..., error_rows: _Optional[bytes] = ..., errors: _Optional[_Iterable[str]] = ...) -> None: ...

class ResponseBatch(_message.Message):
    __slots__ = ("results", "columns")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SampleResult]
    columns: _containers.RepeatedCompositeFieldContainer[ResultColumns]
    def __init__(self, results: _Optional[_Iterable[_Union[SampleResult, _Mapping]]] = ..., columns: _Optional[_Iterable[_Union[ResultColumns, _Mapping]]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("name", "backend", "version", "compressions", "capacity", "workers", "max_batch", "max_message_bytes", "backend_options", "engine", "columnar")
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
    COLUMNAR_FIELD_NUMBER: _ClassVar[int]
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
    columnar: bool
    def __init__(self, name: _Optional[str] = ..., backend: _Optional[str] = ..., version: _Optional[str] = ..., compressions: _Optional[_Iterable[_Union[Compression, str]]] = ..., capacity: _Optional[float] = ..., workers: _Optional[int] = ..., max_batch: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., backend_options: _Optional[_Mapping[str, str]] = ..., engine: _Optional[_Mapping[str, str]] = ..., columnar: _Optional[bool] = ...) -> None: ...

class FlushRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FlushReply(_message.Message):
    __slots__ = ("pending",)
    PENDING_FIELD_NUMBER: _ClassVar[int]
    pending: int
    def __init__(self, pending: _Optional[int] = ...) -> None: ...
