"""Drives Sunomi's tus endpoint with the official Python tus client (tuspy).

  tus_judge.py upload ENDPOINT KEY FILE CHUNK [STOP_AFTER_CHUNKS]
      creates an upload and sends chunks; prints the upload URL first, then "offset N" after
      each chunk; with STOP_AFTER_CHUNKS it stops there (the caller restarts the server).
  tus_judge.py resume URL KEY FILE CHUNK
      resumes an upload at URL (the client asks the server for its offset) and finishes it.
  tus_judge.py cut URL KEY FILE SEND
      starts a PATCH at the server's offset declaring the whole rest, sends SEND bytes and
      drops the connection (a killed connection), then prints the server's offset.
"""
import http.client
import sys
import urllib.parse

from tusclient import client


def uploader(tus, path, chunk, url=None, endpoint=None):
    return tus.uploader(
        file_path=path,
        chunk_size=chunk,
        url=url,
        metadata={"filename": path.rsplit("/", 1)[-1], "passthrough": "tuspy-judge"},
        store_url=False,
        upload_checksum=True,
    )


def main():
    mode = sys.argv[1]
    if mode == "upload":
        endpoint, key, path, chunk = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        stop = int(sys.argv[6]) if len(sys.argv) > 6 else None
        tus = client.TusClient(endpoint, headers={"Authorization": "Bearer " + key})
        up = uploader(tus, path, chunk)
        up.set_url(up.create_url())
        print(up.url, flush=True)
        sent = 0
        while up.offset < up.get_file_size():
            if stop is not None and sent >= stop:
                break
            up.upload_chunk()
            sent += 1
            print("offset", up.offset, flush=True)
    elif mode == "resume":
        url, key, path, chunk = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        base = url.split("/api/v1/tus/")[0] + "/api/v1/tus"
        tus = client.TusClient(base, headers={"Authorization": "Bearer " + key})
        up = uploader(tus, path, chunk, url=url)
        print("resumed at", up.offset, flush=True)
        up.upload()
        print("offset", up.offset, flush=True)
    elif mode == "cut":
        url, key, path, send = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
        u = urllib.parse.urlparse(url)
        auth = {"Authorization": "Bearer " + key, "Tus-Resumable": "1.0.0"}
        conn = http.client.HTTPConnection(u.hostname, u.port)
        conn.request("HEAD", u.path, headers=auth)
        offset = int(conn.getresponse().getheader("Upload-Offset"))
        conn.close()
        data = open(path, "rb").read()
        rest = data[offset:]
        conn = http.client.HTTPConnection(u.hostname, u.port)
        conn.putrequest("PATCH", u.path)
        for k, v in auth.items():
            conn.putheader(k, v)
        conn.putheader("Content-Type", "application/offset+octet-stream")
        conn.putheader("Upload-Offset", str(offset))
        conn.putheader("Content-Length", str(len(rest)))
        conn.endheaders()
        conn.send(rest[:send])
        conn.sock.close()
        print("cut after", send, flush=True)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
