/*
 * hookhub.js: the browser client for hookhub's real-time hub (served at /static/hookhub.js).
 *
 *   <script src="https://hub.example.com/static/hookhub.js"></script>
 *   <script>
 *     const hub = new HookhubClient({
 *       url: "wss://hub.example.com/ws",
 *       token: () => fetch("/my-backend/hookhub-token").then((r) => r.text()),
 *       onStatus: (status) => { indicator.textContent = status; },  // connected | reconnecting | disconnected
 *       onMessage: (message) => console.log("📨", message),        // every message pushed
 *     });
 *     hub.subscribe("shop:42", (message) => refetchProducts(message));
 *     hub.on("product_added", (message) => refetchProducts(message));
 *     hub.connect();
 *   </script>
 *
 * - Reconnects by itself after a lost connection, with capped, jittered exponential backoff.
 * - Sends {"type": "ping"} every 30 s and answers the server's pings.
 * - Recovers on reconnect: each channel subscribed through subscribe() is resubscribed with the
 *   last offset and epoch seen, so messages published meanwhile arrive, in order and once.
 *   When the hub's history no longer reaches back, onRecoveryFailed(channel) is called: refetch
 *   that channel's state from your API.
 * - A refused token (close code 4401) stops reconnecting unless `token` is a function, which is
 *   then asked for a fresh one.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.HookhubClient = factory();
  }
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var DEFAULTS = {
    pingIntervalMs: 30000,
    minDelayMs: 500,
    maxDelayMs: 30000,
  };
  var UNAUTHORIZED = 4401;
  var STATUS = { CONNECTED: "connected", RECONNECTING: "reconnecting", DISCONNECTED: "disconnected" };

  function noop() {}

  function HookhubClient(options) {
    if (!options || !options.url) {
      throw new Error("HookhubClient: options.url is required");
    }
    this.url = options.url;
    this.token = options.token;
    this.pingIntervalMs = options.pingIntervalMs || DEFAULTS.pingIntervalMs;
    this.minDelayMs = options.minDelayMs || DEFAULTS.minDelayMs;
    this.maxDelayMs = options.maxDelayMs || DEFAULTS.maxDelayMs;
    this.onStatus = options.onStatus || noop;
    this.onMessage = options.onMessage || noop;
    this.onRecoveryFailed = options.onRecoveryFailed || noop;
    this.onError = options.onError || noop;
    this.status = STATUS.DISCONNECTED;
    this._channels = new Map(); // channel -> {handlers: Set, offset, epoch}
    this._types = new Map(); // message type -> Set of handlers
    this._user = null;
    this._socket = null;
    this._attempt = 0;
    this._pingTimer = null;
    this._retryTimer = null;
    this._stopped = true;
  }

  HookhubClient.prototype._setStatus = function (status) {
    if (status !== this.status) {
      this.status = status;
      this.onStatus(status);
    }
  };

  HookhubClient.prototype._tokenValue = function () {
    var token = this.token;
    return Promise.resolve(typeof token === "function" ? token() : token);
  };

  /** Open the connection (and keep it open until close()). */
  HookhubClient.prototype.connect = function () {
    var self = this;
    if (this._socket && this._socket.readyState <= 1) return Promise.resolve(); // connecting or open
    this._stopped = false;
    clearTimeout(this._retryTimer);
    return this._tokenValue().then(
      function (token) {
        if (self._stopped) return;
        var url = self.url + (self.url.indexOf("?") < 0 ? "?" : "&") + "token=" + encodeURIComponent(token || "");
        var socket = new WebSocket(url);
        self._socket = socket;
        socket.onmessage = function (event) {
          self._receive(event.data);
        };
        socket.onclose = function (event) {
          if (self._socket === socket) self._closed(event.code);
        };
        socket.onerror = function () {
          // A close event always follows; reconnecting starts there.
        };
      },
      function (error) {
        self.onError(error);
        self._closed(0);
      }
    );
  };

  /** Close for good: no reconnecting. */
  HookhubClient.prototype.close = function () {
    this._stopped = true;
    clearTimeout(this._retryTimer);
    clearInterval(this._pingTimer);
    var socket = this._socket;
    this._socket = null;
    if (socket) socket.close(1000, "client closed");
    this._setStatus(STATUS.DISCONNECTED);
  };

  HookhubClient.prototype._closed = function (code) {
    clearInterval(this._pingTimer);
    this._socket = null;
    var refused = code === UNAUTHORIZED && typeof this.token !== "function";
    if (this._stopped || refused) {
      this._stopped = true;
      this._setStatus(STATUS.DISCONNECTED);
      return;
    }
    this._setStatus(STATUS.RECONNECTING);
    // Capped exponential backoff with jitter (half to all of the step), so a restarted hub is
    // not hit by every client at the same instant.
    var step = Math.min(this.maxDelayMs, this.minDelayMs * Math.pow(2, this._attempt));
    var delay = step / 2 + Math.random() * (step / 2);
    this._attempt += 1;
    var self = this;
    this._retryTimer = setTimeout(function () {
      self.connect();
    }, delay);
  };

  HookhubClient.prototype.send = function (message) {
    var socket = this._socket;
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  };

  HookhubClient.prototype._opened = function () {
    var self = this;
    this._attempt = 0;
    this._setStatus(STATUS.CONNECTED);
    clearInterval(this._pingTimer);
    this._pingTimer = setInterval(function () {
      self.send({ type: "ping" });
    }, this.pingIntervalMs);
    this._channels.forEach(function (state, channel) {
      self._sendSubscribe(channel, state);
    });
    if (this._user !== null) this.send({ event: "prijava", user_uuid: this._user });
  };

  HookhubClient.prototype._sendSubscribe = function (channel, state) {
    var command = { type: "subscribe", channel: channel, recover: true };
    if (state.epoch !== null) command.since = { offset: state.offset, epoch: state.epoch };
    this.send(command);
  };

  HookhubClient.prototype._receive = function (data) {
    var message;
    try {
      message = JSON.parse(data);
    } catch (error) {
      this.onError(error);
      return;
    }
    var type = message.type;
    if (type === "connection" && message.status === "connected") return this._opened();
    if (type === "ping") return void this.send({ type: "pong" });
    if (type === "pong") return;
    if (type === "subscribed") return this._subscribed(message);
    if (type === "unsubscribed") return;
    if (type === "error") return this.onError(message);
    var state = typeof message.channel === "string" ? this._channels.get(message.channel) : undefined;
    if (state && typeof message.offset === "number") {
      if (message.offset <= state.offset) return; // already seen (live and recovered overlap)
      state.offset = message.offset;
    }
    this.onMessage(message);
    if (state) state.handlers.forEach(function (handler) { handler(message); });
    var handlers = this._types.get(type);
    if (handlers) handlers.forEach(function (handler) { handler(message); });
  };

  HookhubClient.prototype._subscribed = function (message) {
    var state = this._channels.get(message.channel);
    if (!state) return;
    if (message.recovered === false) {
      this.onRecoveryFailed(message.channel);
    }
    if (typeof message.offset === "number" && (message.recovered === false || state.epoch !== message.epoch || state.epoch === null)) {
      // A fresh start: from here on, offsets count from what the hub has now.
      state.offset = message.offset;
      state.epoch = message.epoch;
    }
  };

  /** Receive the messages of `channel` (recovered after reconnects); handler is optional. */
  HookhubClient.prototype.subscribe = function (channel, handler) {
    var state = this._channels.get(channel);
    if (!state) {
      state = { handlers: new Set(), offset: 0, epoch: null };
      this._channels.set(channel, state);
      this._sendSubscribe(channel, state);
    }
    if (handler) state.handlers.add(handler);
    return this;
  };

  HookhubClient.prototype.unsubscribe = function (channel) {
    if (this._channels.delete(channel)) this.send({ type: "unsubscribe", channel: channel });
    return this;
  };

  /** Call handler for every message of this type, on any channel. */
  HookhubClient.prototype.on = function (type, handler) {
    if (!this._types.has(type)) this._types.set(type, new Set());
    this._types.get(type).add(handler);
    return this;
  };

  HookhubClient.prototype.off = function (type, handler) {
    var handlers = this._types.get(type);
    if (handlers) handlers.delete(handler);
    return this;
  };

  /** Seed 001: receive the pushes of user `userUuid` (kept across reconnects). */
  HookhubClient.prototype.register = function (userUuid) {
    this._user = userUuid;
    this.send({ event: "prijava", user_uuid: userUuid });
    return this;
  };

  HookhubClient.prototype.unregister = function () {
    if (this._user !== null) this.send({ event: "odjava" });
    this._user = null;
    return this;
  };

  HookhubClient.STATUS = STATUS;
  return HookhubClient;
});
