"""A Hugging Face hub on 127.0.0.1 for the tests that download: files the test made, served with the
headers huggingface_hub expects, so the download code runs exactly as against the real hub."""

import hashlib
import http.server
import threading


class LocalHub:
    """Serves `<repo>/resolve/<revision>/model.safetensors` with the headers the hub sends."""

    def __init__(self, files):
        self.files = files
        self.requests = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, with_body):
                hub.requests.append((self.command, self.path))
                body = hub.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("X-Repo-Commit", "0" * 40)
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_HEAD(self):
                self._answer(with_body=False)

            def do_GET(self):
                self._answer(with_body=True)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
