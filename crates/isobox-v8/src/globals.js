// Globals the wasm backend's QuickJS guest has (from Javy) and a bare V8 context lacks, with the same behaviour:
// `TextEncoder`, `TextDecoder` (UTF-8 only) and `queueMicrotask`. Evaluated in every fresh V8 context before the
// prelude; the natives come from isobox's V8 binding and are reachable only through these classes.
(function (utf8Length, encodeUtf8, decodeUtf8) {
  "use strict";
  const Uint8ArrayCtor = Uint8Array;
  const ArrayBufferCtor = ArrayBuffer;
  const isView = ArrayBuffer.isView;
  const StringCtor = String;
  const defineProperties = Object.defineProperties;
  const resolved = Promise.resolve();
  const then = Promise.prototype.then;
  const call = Function.prototype.call.bind(Function.prototype.call);
  const labels = ["utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"];

  class TextDecoder {
    constructor(label = "utf-8", options = {}) {
      label = StringCtor(label).trim().toLowerCase();
      if (labels.indexOf(label) === -1) {
        throw new RangeError("The encoding label provided must be utf-8");
      }
      defineProperties(this, {
        encoding: { value: "utf-8", enumerable: true, writable: false },
        fatal: { value: !!options.fatal, enumerable: true, writable: false },
        ignoreBOM: { value: !!options.ignoreBOM, enumerable: true, writable: false },
      });
    }

    decode(input, options = {}) {
      if (input === undefined) return "";
      if (options.stream) throw new Error("Streaming decode is not supported");
      let byteOffset = 0;
      let byteLength = 0;
      if (isView(input)) {
        byteOffset = input.byteOffset;
        byteLength = input.byteLength;
        input = input.buffer;
      } else if (input instanceof ArrayBufferCtor) {
        byteLength = input.byteLength;
      }
      if (!(input instanceof ArrayBufferCtor)) {
        throw new TypeError("The provided value is not of type '(ArrayBuffer or ArrayBufferView)'");
      }
      return decodeUtf8(input, byteOffset, byteLength, this.fatal, this.ignoreBOM);
    }
  }

  class TextEncoder {
    constructor() {
      defineProperties(this, { encoding: { value: "utf-8", enumerable: true, writable: false } });
    }

    encode(input = "") {
      const text = StringCtor(input);
      const bytes = new Uint8ArrayCtor(utf8Length(text));
      encodeUtf8(text, bytes);
      return bytes;
    }

    encodeInto(source, destination) {
      throw new Error("encodeInto is not supported");
    }
  }

  // One microtask, as with a native queueMicrotask; like the wasm guest, what the callback throws is ignored.
  function queueMicrotask(callback) {
    if (typeof callback !== "function") throw new TypeError("not a function");
    call(then, resolved, () => callback());
  }

  for (const [name, value] of [["TextDecoder", TextDecoder], ["TextEncoder", TextEncoder], ["queueMicrotask", queueMicrotask]]) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }
});
