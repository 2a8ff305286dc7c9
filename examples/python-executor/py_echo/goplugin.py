"""The plugin side of hashicorp/go-plugin's gRPC protocol, for Python.

jobgraph starts executor plugins with go-plugin. A plugin in any language
must do what go-plugin's Go server does for it:

1. Refuse to run unless the handshake cookie is in the environment
   (JOBGRAPH_EXECUTOR_PLUGIN): it is how a binary knows it was started by
   jobgraph and not by hand. It is not a security measure.
2. Serve gRPC on 127.0.0.1 (or a Unix socket), with the gRPC health service
   (grpc.health.v1.Health) answering SERVING for the service "plugin".
3. AutoMTLS: jobgraph puts its client certificate (PEM) in
   PLUGIN_CLIENT_CERT. The plugin makes a self-signed server certificate
   for "localhost", serves TLS that requires exactly that client
   certificate, and hands its own certificate back in the handshake line.
4. Print one handshake line on stdout and flush it:

       CORE|APP|NETWORK|ADDRESS|PROTOCOL|CERT
       1|1|tcp|127.0.0.1:34567|grpc|MIIB...   (base64 DER, no padding)

   CORE is go-plugin's own protocol version (always 1); APP is jobgraph's
   executor protocol version (sdk.ProtocolVersion, 1). go-plugin reads
   nothing else from stdout: after the line, anything printed there is
   thrown away, so this module sends print() to stderr.
5. Optionally serve plugin.GRPCController/Shutdown, which go-plugin calls
   to stop the plugin gracefully; without it the plugin gets SIGKILL two
   seconds later.

Log lines go to stderr as JSON in hclog's format ({"@level", "@message",
"@timestamp", ...}); jobgraph shows them in its log at their level. Never
log a credential.

This module uses only the standard library at import time, so that
check_environment() can explain what is missing. serve() needs the Debian
packages python3-grpcio, python3-protobuf and python3-cryptography.
"""

import base64
import datetime
import json
import os
import signal
import sys
import threading

# The go-plugin handshake, as jobgraph's Go SDK declares it
# (plugins/sdk/plugin.go): cookie key and value, and the executor protocol
# version this plugin speaks.
COOKIE_KEY = "JOBGRAPH_EXECUTOR_PLUGIN"
COOKIE_VALUE = "b7f0c1f2a3e44b4c9c5f2c1de0e9a8d6"
APP_PROTOCOL_VERSION = 1
# go-plugin's own protocol version: the first field of the handshake line.
CORE_PROTOCOL_VERSION = 1

# How long Shutdown gives running calls to end before the server stops.
SHUTDOWN_GRACE_SECONDS = 1.0

_log_lock = threading.Lock()
_log_module = "plugin"
_stderr = sys.stderr


def log(level, message, **fields):
    """Writes one log line in hclog's JSON format to stderr.

    level is "trace", "debug", "info", "warn" or "error". fields are extra
    key-value pairs; never pass a credential or a parameter marked secret.
    """
    now = datetime.datetime.now(datetime.timezone.utc)
    entry = {
        "@level": level,
        "@message": str(message),
        "@module": _log_module,
        # The exact layout go-plugin parses; any other is logged as text.
        "@timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    for key, value in fields.items():
        entry[key] = value if isinstance(value, (int, float, bool)) else str(value)
    line = json.dumps(entry, ensure_ascii=False)
    with _log_lock:
        _stderr.write(line + "\n")
        _stderr.flush()


def check_environment(name):
    """Exits with a message unless jobgraph started this process and the
    Debian packages the plugin needs are installed. Call it first."""
    global _log_module
    _log_module = name
    if os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        sys.stderr.write(
            "This is a jobgraph executor plugin: it is not meant to be run by hand.\n"
            "List it in the plugin directory's plugins.json and jobgraph starts it;\n"
            "see examples/python-executor/README.md.\n")
        sys.exit(1)
    missing = []
    for module, package in (("grpc", "python3-grpcio"),
                            ("google.protobuf", "python3-protobuf"),
                            ("cryptography", "python3-cryptography")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        log("error", "missing Python modules: apt-get install " + " ".join(missing),
            python=sys.executable)
        sys.exit(1)
    versions = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "")
    if versions and str(APP_PROTOCOL_VERSION) not in versions.split(","):
        # go-plugin's Go server answers with its own version anyway, and
        # the host refuses it with a clear error; do the same.
        log("warn", "the host does not speak this plugin's protocol version",
            host_versions=versions, plugin_version=APP_PROTOCOL_VERSION)


def _server_certificate():
    """Returns a new self-signed certificate for "localhost" and its key,
    as (cert_pem, key_pem, cert_der), like go-plugin's generateCert."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "jobgraph plugin"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + datetime.timedelta(days=3650))
        # go-plugin's client verifies the server name "localhost", and
        # trusts exactly this certificate as its root.
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    return cert_pem, key_pem, cert.public_bytes(serialization.Encoding.DER)


def _health_handler(grpc):
    import health_pb2

    def check(request, context):
        if request.service in ("", "plugin"):
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")

    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            check,
            request_deserializer=health_pb2.HealthCheckRequest.FromString,
            response_serializer=health_pb2.HealthCheckResponse.SerializeToString),
    })


def _controller_handler(grpc, shutdown):
    # plugin.GRPCController/Shutdown takes and returns plugin.Empty, a
    # message without fields: its encoding is zero bytes. (The request
    # deserializer must not return None: gRPC takes None for a failure.)
    def shutdown_rpc(_request, _context):
        log("debug", "shutdown requested by the host")
        shutdown.set()
        return b""

    return grpc.method_handlers_generic_handler("plugin.GRPCController", {
        "Shutdown": grpc.unary_unary_rpc_method_handler(
            shutdown_rpc,
            request_deserializer=lambda data: data,
            response_serializer=lambda _empty: b""),
    })


def serve(handlers, on_shutdown=None, max_workers=64):
    """Serves the given gRPC generic handlers as a go-plugin plugin, until
    the host asks it to stop (or SIGTERM). Does not return.

    on_shutdown is called once before the server stops, to end running
    work. max_workers bounds the calls served at once: each call (a
    running Execute stream too) holds one thread; more wait their turn.
    """
    from concurrent import futures

    import grpc

    shutdown = threading.Event()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[
            # go-plugin's client lifts its limits; 4 MiB is gRPC's default.
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
        ])
    server.add_generic_rpc_handlers(
        tuple(handlers) + (_health_handler(grpc), _controller_handler(grpc, shutdown)))

    client_cert = os.environ.get("PLUGIN_CLIENT_CERT")
    cert_field = ""
    if client_cert:
        cert_pem, key_pem, cert_der = _server_certificate()
        credentials = grpc.ssl_server_credentials(
            [(key_pem, cert_pem)],
            root_certificates=client_cert.encode(),
            require_client_auth=True)
        port = server.add_secure_port("127.0.0.1:0", credentials)
        # go-plugin decodes it with base64.RawStdEncoding: no padding.
        cert_field = "|" + base64.b64encode(cert_der).decode("ascii").rstrip("=")
    else:
        # Without AutoMTLS (a host configured without it, or a test).
        log("warn", "PLUGIN_CLIENT_CERT is not set: serving without TLS")
        port = server.add_insecure_port("127.0.0.1:0")
    if not port:
        log("error", "could not listen on 127.0.0.1")
        sys.exit(1)
    server.start()

    # The host's Ctrl-C reaches the whole process group; the host decides
    # when plugins stop (go-plugin's Go server ignores SIGINT too).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda _sig, _frame: shutdown.set())

    sys.stdout.write("%d|%d|tcp|127.0.0.1:%d|grpc%s\n" % (
        CORE_PROTOCOL_VERSION, APP_PROTOCOL_VERSION, port, cert_field))
    sys.stdout.flush()
    sys.stdout = sys.stderr  # go-plugin discards stdout from now on
    log("debug", "plugin serving", address="127.0.0.1:%d" % port, tls=bool(client_cert))

    while not shutdown.wait(1.0):  # a timeout keeps signals deliverable
        pass
    if on_shutdown:
        on_shutdown()
    server.stop(SHUTDOWN_GRACE_SECONDS).wait()
    log("debug", "plugin stopped")
    sys.exit(0)
