// isobox's JavaScript prelude. It is evaluated once, while the guest is pre-initialised, so what it builds is part of
// the memory snapshot every sandbox starts from (the V8 backend likewise evaluates it once, into the startup snapshot
// every isolate starts from). It returns the hooks the host calls per request.
//
// Everything it uses is captured here, before any agent code runs, so a program that replaces `JSON.stringify`,
// `Array.prototype.map`, `RegExp.prototype[Symbol.replace]` or `Object.prototype.toJSON` cannot change how its
// outcome is reported: reports are objects without a prototype, serialised by the captured `JSON.stringify`, and
// every regular expression runs through the captured `RegExp.prototype.exec`, never through the methods of
// `String.prototype` that dispatch to the program-writable `Symbol.replace`/`Symbol.match`/`Symbol.search`.
//
// `options` describes the engine where engines differ: `stackHeader` is set when `error.stack` starts with the
// error's "Name: message" text before its frames (V8; QuickJS's stacks are frames only). `engineLimit(value)` is the
// engine's own word on a thrown value: 1 when it is the error the engine threw because the stack ran out, 2 when it ran
// out of memory, 0 otherwise; a program can make errors that look the same, but only the engine's own count.
// `capabilityObject(capability, names, make)` makes a capability's global object (see `grant`).
(function (hostLog, hostCall, fileName, options) {
  "use strict";
  const stackHeader = !!(options && options.stackHeader);
  const engineLimit = options && typeof options.engineLimit === "function" ? options.engineLimit : () => 0;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const ErrorCtor = Error;
  const SyntaxErrorCtor = SyntaxError;
  const RangeErrorCtor = RangeError;
  const InternalErrorCtor = typeof InternalError === "function" ? InternalError : undefined;
  const StringCtor = String;
  const getPrototypeOf = Object.getPrototypeOf;
  const isArray = Array.isArray;
  const defineProperty = Object.defineProperty;
  const TypeErrorCtor = TypeError;
  const resolve = Promise.resolve.bind(Promise);
  const reject = Promise.reject.bind(Promise);
  const slice = String.prototype.slice;
  const objectToString = Object.prototype.toString;
  const call = Function.prototype.call.bind(Function.prototype.call);
  const replace = String.prototype.replace;
  const exec = RegExp.prototype.exec;
  const join = Array.prototype.join;
  const indexOf = String.prototype.indexOf;
  const create = Object.create;
  const max = Math.max;
  const construct = Reflect.construct;
  const NativeDate = Date;
  const dateToString = Date.prototype.toString;
  // An escaped surrogate that is not itself escaped (preceded by an even number of backslashes).
  const loneSurrogate = /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/gi;
  const push = Array.prototype.push;
  const escapedFile = call(replace, fileName, /[.*+?^${}()|[\]\\]/g, "\\$&");
  // `agent.js:LINE:COLUMN` in stacks and parse errors; the program starts on the second line of the compiled source.
  const position = new RegExp(escapedFile + ":(\\d+):(\\d+)", "g");
  const firstPosition = new RegExp(escapedFile + ":(\\d+):(\\d+)");

  // The first frame line of a stack, as both engines write them.
  const frameLine = /^[ \t]+at /m;

  // `text` with every match of the global expression `pattern` replaced by `replacer(match)`.
  function replaceAll(text, pattern, replacer) {
    let out = "";
    let last = 0;
    pattern.lastIndex = 0;
    for (;;) {
      const found = call(exec, pattern, text);
      if (found === null) break;
      out += call(slice, text, last, found.index) + replacer(found);
      last = found.index + found[0].length;
      if (found[0].length === 0) pattern.lastIndex = last + 1;
    }
    pattern.lastIndex = 0;
    return out + call(slice, text, last);
  }

  // `stack` without the lines of isobox's own prelude, line by line: linear in the stack's length, however long its
  // lines are (a program chooses its messages and function names).
  function withoutPreludeFrames(stack) {
    let out = "";
    let kept = 0;
    for (let start = 0; start <= stack.length; ) {
      let end = call(indexOf, stack, "\n", start);
      if (end === -1) end = stack.length;
      const line = call(slice, stack, start, end);
      if (call(indexOf, line, "isobox:prelude") === -1) {
        out += (kept++ === 0 ? "" : "\n") + line;
      }
      start = end + 1;
    }
    return out;
  }

  // A stack's frames, with positions in the program; `undefined` when there are none to show.
  function fixPositions(stack) {
    if (typeof stack !== "string") return undefined;
    let own = stack;
    if (stackHeader) {
      // The header repeats the name and message (as they were when the error was made): keep the frames only.
      const first = call(exec, frameLine, own);
      if (first === null) return undefined;
      own = call(slice, own, first.index);
    }
    own = withoutPreludeFrames(own);
    if (own === "") return undefined;
    // QuickJS places some errors at the wrapper's own line; those get no position rather than a wrong one.
    return replaceAll(own, position, (found) =>
      found[1] > 1 ? fileName + ":" + (found[1] - 1) + ":" + found[2] : fileName,
    );
  }

  // JSON text with the lone surrogates `JSON.stringify` escapes (`"\ud800"`), which are not Unicode, made U+FFFD.
  function withoutLoneSurrogates(text) {
    return replaceAll(text, loneSurrogate, (found) => found[1] + "\\ufffd");
  }

  // An isobox error description of `kind`: an object without a prototype, so that nothing a program planted on
  // `Object.prototype` (a `toJSON`, a setter) takes part in building or serialising it.
  function report(kind) {
    const described = create(null);
    described.kind = kind;
    return described;
  }

  // A console argument as a person reads it: strings as they are, everything else close to JSON.
  function show(value, depth, seen) {
    switch (typeof value) {
      case "string":
        return depth === 0 ? value : stringify(value);
      case "undefined":
        return "undefined";
      case "function":
        return "[Function " + (value.name || "anonymous") + "]";
      case "bigint":
        return StringCtor(value) + "n";
      case "symbol":
        return call(Symbol.prototype.toString, value);
      case "object":
        break;
      default:
        return StringCtor(value);
    }
    if (value === null) return "null";
    if (value instanceof ErrorCtor) {
      const header = value.name + ": " + value.message;
      const frames = value.stack ? fixPositions(value.stack) : undefined;
      return frames === undefined ? header : header + "\n" + frames;
    }
    if (seen.indexOf(value) !== -1) return "[Circular]";
    if (depth > 4) return isArray(value) ? "[Array]" : "[Object]";
    seen = seen.concat([value]);
    const parts = [];
    if (isArray(value)) {
      for (let i = 0; i < value.length && i < 100; i++) call(push, parts, show(value[i], depth + 1, seen));
      if (value.length > 100) call(push, parts, "... " + (value.length - 100) + " more");
      return "[" + call(join, parts, ", ") + "]";
    }
    if (value instanceof Map) {
      for (const [k, v] of value) call(push, parts, show(k, depth + 1, seen) + " => " + show(v, depth + 1, seen));
      return "Map(" + value.size + ") {" + call(join, parts, ", ") + "}";
    }
    if (value instanceof Set) {
      for (const v of value) call(push, parts, show(v, depth + 1, seen));
      return "Set(" + value.size + ") {" + call(join, parts, ", ") + "}";
    }
    if (value instanceof Date) return isNaN(value) ? "Invalid Date" : value.toISOString();
    const proto = getPrototypeOf(value);
    if (proto !== null && proto !== Object.prototype && typeof value.toJSON !== "function") {
      const name = proto.constructor && proto.constructor.name;
      if (name && objectToString.call(value) !== "[object Object]") return "[object " + name + "]";
    }
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length && i < 100; i++) {
      const key = keys[i];
      call(push, parts, stringify(key) + ": " + show(value[key], depth + 1, seen));
    }
    if (keys.length > 100) call(push, parts, "... " + (keys.length - 100) + " more");
    return "{" + call(join, parts, ", ") + "}";
  }

  function format(args) {
    const parts = [];
    for (let i = 0; i < args.length; i++) {
      try {
        call(push, parts, show(args[i], 0, []));
      } catch (e) {
        call(push, parts, "[unprintable]");
      }
    }
    return call(join, parts, " ");
  }

  const console = {};
  const levels = ["log", "info", "warn", "error", "debug"];
  for (let level = 0; level < levels.length; level++) {
    const name = levels[level];
    console[name] = {
      [name](...args) {
        hostLog(level, format(args));
      },
    }[name];
  }
  Object.defineProperty(globalThis, "console", { value: console, writable: true, configurable: true, enumerable: false });

  function describeThrown(value) {
    if (value instanceof ErrorCtor) {
      return {
        name: StringCtor(value.name),
        message: StringCtor(value.message),
        stack: fixPositions(value.stack),
      };
    }
    let text;
    try {
      text = typeof value === "string" ? value : show(value, 1, []);
    } catch (e) {
      text = "[unprintable]";
    }
    return { name: typeof value === "object" && value !== null ? "Object" : typeof value, message: text, stack: undefined };
  }

  // What `failure` reports for a thrown value, as a description without a prototype.
  function describeFailure(value, compiling, line, column) {
    if (compiling && value instanceof SyntaxErrorCtor) {
      const found = line === undefined ? call(exec, firstPosition, StringCtor(value.stack)) : [, line, column];
      const described = report("syntax");
      described.message = StringCtor(value.message);
      described.line = found ? max(1, found[1] - 1) : 0;
      described.column = found ? +found[2] : 0;
      return described;
    }
    // The engine's own errors for exhausted resources; the look-alikes a program throws are its exceptions. The
    // shape is checked first, so that the engine is asked only about likely errors.
    if (value instanceof RangeErrorCtor && value.message === "Maximum call stack size exceeded") {
      if (engineLimit(value) === 1) return report("stack_overflow");
    } else if (InternalErrorCtor && value instanceof InternalErrorCtor && value.message === "out of memory") {
      if (engineLimit(value) === 2) return report("memory");
    }
    const thrown = describeThrown(value);
    const described = report("exception");
    described.name = thrown.name;
    described.message = thrown.message;
    if (thrown.stack !== undefined) described.stack = thrown.stack;
    return described;
  }

  // For host calls. `hostCall(capability, function, args, failed)` serialises the arguments (as the language's own
  // `JSON.stringify` does), makes the call and parses its reply: the value returned, or, when the call threw,
  // `failed`, holding the error's description as its `value` (`{name, message, data?}`); no value from the host is
  // that object. An engine whose capability objects make their methods themselves (the wasm guest) passes none.
  const failed = create(null);

  // The error a call threw, made from its description.
  function callError(value) {
    const error = value.name === "TypeError" ? new TypeErrorCtor(value.message) : new ErrorCtor(value.message);
    if ("data" in value) error.data = value.data;
    return error;
  }

  // A run that may stop for approval is run again from the start once approved, and must take the same path: its
  // `Math.random()` is seeded (sfc32) and its clock stands at the run's start, the same on every replay.
  function deterministic(seed, clock) {
    let a = seed[0] | 0;
    let b = seed[1] | 0;
    let c = seed[2] | 0;
    let d = seed[3] | 0;
    const random = {
      random() {
        const t = (((a + b) | 0) + d) | 0;
        d = (d + 1) | 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) | 0;
        c = (c << 21) | (c >>> 11);
        c = (c + t) | 0;
        return (t >>> 0) / 4294967296;
      },
    }.random;
    defineProperty(Math, "random", { value: random, writable: true, configurable: true, enumerable: false });
    function Date(...args) {
      if (new.target === undefined) return call(dateToString, construct(NativeDate, [clock]));
      return construct(NativeDate, args.length === 0 ? [clock] : args, new.target);
    }
    Date.prototype = NativeDate.prototype;
    defineProperty(Date, "length", { value: 7 });
    Date.now = { now: () => clock }.now;
    Date.parse = NativeDate.parse;
    Date.UTC = NativeDate.UTC;
    defineProperty(NativeDate.prototype, "constructor", { value: Date, writable: true, configurable: true, enumerable: false });
    defineProperty(globalThis, "Date", { value: Date, writable: true, configurable: true, enumerable: false });
  }

  // A method of capability `capability`: a plain function returning a settled promise (cheaper in QuickJS than an
  // async function).
  function method(capability, index, name) {
    return {
      [name](...args) {
        try {
          const reply = hostCall(capability, index, args, failed);
          if (reply !== failed) return resolve(reply);
          const description = failed.value;
          failed.value = undefined;
          return reject(callError(description));
        } catch (error) {
          return reject(error);
        }
      },
    }[name];
  }

  // A capability's object: frozen, inheriting from `Object.prototype`, its own properties the methods in declaration
  // order (non-writable, enumerable, non-configurable), each made by `method` on its first read. Every engine makes it
  // itself, `capabilityObject(capability, names, method)` with `names` each method's name followed by "\n": the wasm
  // guest as an object of its own class (guest/src/capability.rs), V8 with lazy data properties (isobox_v8.cc).
  const capabilityObject = options.capabilityObject;

  // Each granted capability becomes a global object whose methods return promises. The manifest is
  // `[global, …]`, or `{grants, seed, now}` for a run that must replay the same, then `\0` and each capability's
  // method names, each followed by "\n", the capability's last by an empty line. An engine that makes capability
  // objects itself keeps the names and gives the prelude only what comes before the `\0`. The wasm guest also defines
  // the globals of a plain list itself, as this does (guest/src/lib.rs, `grant`), and leaves only a replaying run's here.
  function grant(manifestText) {
    const cut = call(indexOf, manifestText, "\0");
    let manifest = parse(cut === -1 ? manifestText : call(slice, manifestText, 0, cut));
    const names = cut === -1 ? "" : call(slice, manifestText, cut + 1);
    if (!isArray(manifest)) {
      deterministic(manifest.seed, manifest.now);
      manifest = manifest.grants;
    }
    for (let capability = 0, start = 0; capability < manifest.length; capability++) {
      let end = start;
      if (names[start] !== "\n") {
        end = call(indexOf, names, "\n\n", start);
        end = end === -1 ? start : end + 1;
      }
      const api = capabilityObject(capability, call(slice, names, start, end), method);
      defineProperty(globalThis, manifest[capability], { value: api, writable: false, configurable: false, enumerable: false });
      start = end + 1;
    }
  }

  return {
    // `method(capability, index, name)`, for an engine that grants the usual manifest itself.
    method,

    // `callError(description)`, for an engine that makes capability methods itself: the error a call that threw
    // rejects with, from the description the host gave (`{name, message, data?}`).
    callError,

    // Installs the granted capabilities, then calls the compiled program with its input; returns its promise.
    start(program, inputText, manifestText) {
      if (manifestText.length !== 0) grant(manifestText);
      return program(inputText.length === 0 ? undefined : parse(inputText));
    },

    // A plugin's instance gets its capabilities once, before its module is evaluated.
    grant(manifestText) {
      if (manifestText.length !== 0) grant(manifestText);
    },

    // Calls a plugin's exported function with its input; returns a promise of its result, rejected if it throws.
    call(exports, name, inputText) {
      const fn = exports[name];
      if (typeof fn !== "function") {
        return reject(new TypeErrorCtor("the plugin exports no function named " + stringify(name)));
      }
      try {
        return resolve(fn(inputText.length === 0 ? undefined : parse(inputText)));
      } catch (error) {
        return reject(error);
      }
    },

    // The program's return value as JSON text (`undefined` becomes `null`).
    success(value) {
      const text = stringify(value);
      if (text === undefined) return "null";
      return call(indexOf, text, "\\ud") === -1 ? text : withoutLoneSurrogates(text);
    },

    // `success` for an engine that serialises the value itself, with the engine's own `JSON.stringify`, and calls this
    // only when the text holds a `\ud`.
    withoutLoneSurrogates,

    // A thrown value or a rejected promise as the JSON text of an isobox error. An engine that does not put a syntax
    // error's position in its stack (V8) passes it as `line` and `column` in the compiled source.
    failure(value, compiling, line, column) {
      let described;
      try {
        described = describeFailure(value, compiling, line, column);
      } catch (e) {
        // Describing the thrown value threw in turn (a hostile getter, say): report it without details.
        described = report("exception");
        described.name = "Error";
        described.message = "the program threw a value that cannot be described";
      }
      return stringify(described);
    },
  };
});
