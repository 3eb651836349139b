// The Node.js `ws` server that bench/realtime.py compares hookhub with.
// WebSocket clients on /ws; POST /publish broadcasts its body to every open client as one
// pre-encoded text frame (encoded once, written to each socket), then answers.
"use strict";

const http = require("http");
const { WebSocket, WebSocketServer } = require("ws");

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    if (request.method !== "POST" || request.url !== "/publish") {
      response.writeHead(404, { "content-length": 2 });
      response.end("{}");
      return;
    }
    const frame = Buffer.concat(
      WebSocket.Sender.frame(Buffer.concat(chunks), {
        fin: true,
        rsv1: false,
        opcode: 1,
        mask: false,
        readOnly: false,
      }),
    );
    let sent = 0;
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) {
        client._socket.write(frame);
        sent += 1;
      }
    }
    const body = JSON.stringify({ sent });
    response.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    response.end(body);
  });
});

const wss = new WebSocketServer({ server, path: "/ws", perMessageDeflate: false });

server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => {
  console.log(server.address().port);
});
