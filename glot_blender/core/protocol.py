"""The words the inference server and its clients share on the wire (standard library only).

The server (``inference_server``) and the Blender client (``glot_blender.client``) both import
these names, so a code, a notification or a status is spelled in one place. The protocol
itself is described in ``docs/protocol.md``.
"""

from __future__ import annotations

JSONRPC = "2.0"
PROTOCOL_VERSION = 1

# ----------------------------------------------------------------------------- methods
METHOD_INITIALIZE = "initialize"
METHOD_ANALYZE = "analyze"
METHOD_CANCEL = "cancel"
METHOD_SHUTDOWN = "shutdown"
METHODS = (METHOD_INITIALIZE, METHOD_ANALYZE, METHOD_CANCEL, METHOD_SHUTDOWN)

# ----------------------------------------------------------------------------- analyze choices
#: ``backend`` values of ``analyze`` (and ``--backend``): the pipeline loads each but "auto"
BACKEND_NAMES = ("auto", "glot", "lite")
#: ``detector`` values of ``analyze`` (and ``--detector``): inference_server.detect's factory
#: builds each; a new detector is added here and there
DETECTOR_NAMES = ("auto", "blazepose", "yolo", "hog", "onnx")

# ----------------------------------------------------------------------------- notifications
NOTIFY_PROGRESS = "progress"
NOTIFY_JOB_FINISHED = "job/finished"

# ----------------------------------------------------------------------------- job statuses
#: ``status`` of a ``job/finished`` notification
STATUS_OK = "ok"
STATUS_CANCELLED = "cancelled"
STATUS_ERROR = "error"
JOB_STATUSES = (STATUS_OK, STATUS_CANCELLED, STATUS_ERROR)

# ----------------------------------------------------------------------------- error codes
# JSON-RPC 2.0 standard codes
PARSE_ERROR = -32700
INVALID_REQUEST = -32600  # the message is not a valid request object
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602  # a parameter is wrong in a way the user can fix
INTERNAL_ERROR = -32603
# application codes (docs/protocol.md, "Errors")
SERVER_ERROR = -32000  # unexpected error inside a job
MODEL_FILE_ERROR = -32001
VIDEO_ERROR = -32002
NO_PERSON = -32003
JOB_CANCELLED = -32004
SERVER_BUSY = -32005
BACKEND_UNAVAILABLE = -32006
