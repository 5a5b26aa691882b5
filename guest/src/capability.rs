//! A granted capability's global object, whose methods are made on first use, and the methods themselves.
//!
//! A capability may have thousands of methods (an OpenAPI document's operations): making a function for each in every
//! request cost ~12k instructions a method (15 M for GitHub's API, whatever the program called). This object is made
//! in constant time instead: QuickJS asks it for a property only after finding none of its own (exotic methods); it
//! asks the host whether the name is a method (`host::method`), makes the method's function the first time the
//! program reads it, and keeps it. Only listing its keys fetches every name (`host::methods`).
//!
//! To a program it is what the prelude would otherwise build (and what the V8 backend builds): a frozen ordinary
//! object inheriting from `Object.prototype`, whose own properties are the methods in declaration order, each a
//! non-writable, enumerable, non-configurable function. A method is a C function here (`call_method`) where the
//! prelude's is JavaScript (`method`): the same call, made without an interpreted frame, an array of the arguments or a
//! bound `Promise.resolve` (a third of a call's instructions in the guest).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use javy::quickjs::qjs::{self, JSAtom, JSContext, JSRuntime, JSValue};
use javy::quickjs::{Ctx, Function, Value};

use crate::isobox::guest::host;

/// The class of capability objects, registered once in the runtime (so in the snapshot).
static CLASS_ID: AtomicU32 = AtomicU32::new(0);

/// The prelude's `callError(description)`, which makes the error a failed call rejects with; set once with the
/// prelude's hooks (so in the snapshot), and never freed.
static CALL_ERROR: AtomicU64 = AtomicU64::new(qjs::JS_UNDEFINED);

unsafe extern "C" {
    /// From isobox's QuickJS patch (`guest/patches/rquickjs-sys-stringify-arguments.patch`): the JSON text of the
    /// array of the arguments, as `JSON.stringify([...argv])` makes it.
    fn JS_IsoboxStringifyArguments(ctx: *mut JSContext, argc: c_int, argv: *mut JSValue) -> JSValue;
}

/// How many names that are not methods an object remembers as such (a program can ask for any number of them).
const MAX_REMEMBERED_MISSES: usize = 4096;

struct Methods {
    capability: u32,
    /// Names asked for so far: the method's function, or `JS_UNDEFINED` for a name that is not a method.
    looked_up: BTreeMap<JSAtom, JSValue>,
    misses: usize,
}

/// Registers the class of capability objects with `Object.prototype` as the prototype of its instances.
pub(crate) fn register(ctx: &Ctx<'_>) {
    static EXOTIC: qjs::JSClassExoticMethods = qjs::JSClassExoticMethods {
        get_own_property: Some(get_own_property),
        get_own_property_names: Some(get_own_property_names),
        delete_property: Some(delete_property),
        define_own_property: Some(define_own_property),
        has_property: None,
        get_property: None,
        set_property: None,
    };
    let ctx = ctx.as_raw().as_ptr();
    // SAFETY: the runtime and context are live; QuickJS keeps the class definition's pointers, all to statics.
    unsafe {
        let rt = qjs::JS_GetRuntime(ctx);
        let mut id: qjs::JSClassID = 0;
        qjs::JS_NewClassID(rt, &mut id);
        let definition = qjs::JSClassDef {
            class_name: c"Object".as_ptr(),
            finalizer: Some(finalize),
            gc_mark: Some(mark),
            call: None,
            exotic: (&raw const EXOTIC).cast_mut(),
        };
        assert_eq!(qjs::JS_NewClass(rt, id, &definition), 0, "the capability class registers");
        let global = qjs::JS_GetGlobalObject(ctx);
        let object = qjs::JS_GetPropertyStr(ctx, global, c"Object".as_ptr());
        let prototype = qjs::JS_GetPropertyStr(ctx, object, c"prototype".as_ptr());
        qjs::JS_SetClassProto(ctx, id, prototype);
        qjs::JS_FreeValue(ctx, object);
        qjs::JS_FreeValue(ctx, global);
        CLASS_ID.store(id, Ordering::Relaxed);
    }
}

/// Keeps the prelude's `callError` for the methods' failed calls. Called once, as the guest is initialised.
pub(crate) fn set_call_error(call_error: Function<'_>) {
    let ctx = call_error.ctx().as_raw().as_ptr();
    // SAFETY: a live value of this context, duplicated to be kept for the runtime's life.
    CALL_ERROR.store(unsafe { qjs::JS_DupValue(ctx, call_error.as_raw()) }, Ordering::Relaxed);
}

/// The prelude's `capabilityObject(capability, names, method)`: a frozen object whose methods are made on demand.
/// The host has the names (`names` is empty: the guest's manifest leaves them out), and the methods are this
/// module's own (the prelude's `method` is not used).
pub(crate) fn capability_object<'js>(ctx: Ctx<'js>, capability: u32) -> javy::quickjs::Result<Value<'js>> {
    let raw = ctx.as_raw().as_ptr();
    let methods = Box::new(Methods { capability, looked_up: BTreeMap::new(), misses: 0 });
    // SAFETY: the class is registered in this runtime; the object owns `methods` from here on (see `finalize`).
    unsafe {
        let object = qjs::JS_NewObjectClass(raw, CLASS_ID.load(Ordering::Relaxed));
        if qjs::JS_IsException(object) {
            drop_methods(qjs::JS_GetRuntime(raw), *methods);
            return Err(javy::quickjs::Error::Exception);
        }
        qjs::JS_SetOpaque(object, Box::into_raw(methods).cast());
        qjs::JS_PreventExtensions(raw, object);
        Ok(Value::from_raw(ctx, object))
    }
}

/// The object's methods, or null for an object of another class. A reference made from it must not live across a
/// call into JavaScript, during which a collection may read the methods too (`mark`).
///
/// # Safety
/// `object` is a live value.
unsafe fn methods(object: JSValue) -> *mut Methods {
    // SAFETY: the opaque pointer of this class is always a `Methods` made by `capability_object`.
    unsafe { qjs::JS_GetOpaque(object, CLASS_ID.load(Ordering::Relaxed)).cast::<Methods>() }
}

/// The function of `object`'s method named `atom`, made now if it is the first time it is asked for; `JS_UNDEFINED`
/// when it is not a method (or `object` is not a capability object); `JS_EXCEPTION` when making it threw. Not
/// duplicated.
///
/// # Safety
/// `ctx`, `object` and `atom` are live.
unsafe fn lookup(ctx: *mut JSContext, object: JSValue, atom: JSAtom) -> JSValue {
    // SAFETY: live context, object and atom; every value made here is freed or kept (duplicated) below.
    unsafe {
        let methods = methods(object);
        if methods.is_null() {
            return qjs::JS_UNDEFINED;
        }
        if let Some(found) = (*methods).looked_up.get(&atom) {
            return *found;
        }
        let capability = (*methods).capability;
        let key = qjs::JS_AtomToValue(ctx, atom);
        let symbol = qjs::JS_IsSymbol(key);
        qjs::JS_FreeValue(ctx, key);
        let found = if symbol { qjs::JS_UNDEFINED } else { method_function(ctx, capability, atom) };
        if qjs::JS_IsException(found) {
            return found;
        }
        if qjs::JS_IsUndefined(found) {
            if (*methods).misses >= MAX_REMEMBERED_MISSES {
                return found;
            }
            (*methods).misses += 1;
        }
        (*methods).looked_up.insert(qjs::JS_DupAtom(ctx, atom), found);
        found
    }
}

/// The function of capability `capability`'s method named `atom`, if the host has one by that name (else
/// `JS_UNDEFINED`): `call_method` with the capability and the method's position as its data, named as the method
/// and taking no declared arguments, as the prelude's `method` makes it.
///
/// # Safety
/// `ctx` and `atom` are live.
unsafe fn method_function(ctx: *mut JSContext, capability: u32, atom: JSAtom) -> JSValue {
    let mut len = 0;
    // SAFETY: live context and atom; the C string (NUL-terminated) is freed before returning.
    unsafe {
        let text = qjs::JS_AtomToCStringLen(ctx, &mut len, atom);
        if text.is_null() {
            return qjs::JS_EXCEPTION;
        }
        // A name that is not UTF-8 (a lone surrogate) names no method.
        let name = std::str::from_utf8(std::slice::from_raw_parts(text.cast::<u8>(), len as usize)).ok();
        let index = name.map_or(-1, |name| host::method(capability, name));
        let function = if index < 0 {
            qjs::JS_UNDEFINED
        } else {
            let mut data = [qjs::JS_MKVAL(qjs::JS_TAG_INT, capability as i32), qjs::JS_MKVAL(qjs::JS_TAG_INT, index)];
            qjs::JS_NewCFunctionData2(ctx, Some(call_method), text, 0, 0, 2, data.as_mut_ptr())
        };
        qjs::JS_FreeCString(ctx, text);
        function
    }
}

/// A capability method: calls the host with the JSON text of its arguments (as `JSON.stringify` makes it, whatever a
/// program has put in its place) and returns a promise settled with the reply: fulfilled with the returned value,
/// or rejected with the error the prelude's `callError` makes from the description of the error the call threw. An
/// exception while serialising the arguments (a `toJSON` that throws, a `BigInt`, a cycle) rejects it too, and no call
/// is made: calls reject their promise rather than throw.
///
/// # Safety
/// Called by QuickJS only, with a live context, `argc` arguments in `argv` and the two values `method_function` gave
/// as `data`.
unsafe extern "C" fn call_method(
    ctx: *mut JSContext,
    _this: JSValue,
    argc: c_int,
    argv: *mut JSValue,
    _magic: c_int,
    data: *mut JSValue,
) -> JSValue {
    // SAFETY: as the function's contract says; every value made here is freed or handed on.
    unsafe {
        let (capability, function) = (qjs::JS_VALUE_GET_INT(*data) as u32, qjs::JS_VALUE_GET_INT(*data.add(1)) as u32);
        let (rejected, value) = match call(ctx, capability, function, argc, argv) {
            Some((false, value)) => (false, value),
            Some((true, description)) => {
                let mut args = [description];
                let error =
                    qjs::JS_Call(ctx, CALL_ERROR.load(Ordering::Relaxed), qjs::JS_UNDEFINED, 1, args.as_mut_ptr());
                qjs::JS_FreeValue(ctx, description);
                if qjs::JS_IsException(error) { (true, qjs::JS_GetException(ctx)) } else { (true, error) }
            }
            None => (true, qjs::JS_GetException(ctx)),
        };
        if qjs::JS_IsUncatchableError(value) {
            qjs::JS_Throw(ctx, value);
            return qjs::JS_EXCEPTION;
        }
        let promise = qjs::JS_NewSettledPromise(ctx, rejected, value);
        qjs::JS_FreeValue(ctx, value);
        promise
    }
}

/// Makes the call of capability `capability`'s function `function` with `argv`: `(false, value)` for the value it
/// returned, `(true, description)` for the description of the error it threw (`{name, message, data?}`), `None` with
/// an exception pending when the arguments could not be serialised or the reply parsed.
///
/// # Safety
/// `ctx` is live and `argv` holds `argc` live values.
unsafe fn call(
    ctx: *mut JSContext,
    capability: u32,
    function: u32,
    argc: c_int,
    argv: *mut JSValue,
) -> Option<(bool, JSValue)> {
    // SAFETY: as the function's contract says; what is made here is freed here, but the value returned.
    unsafe {
        let text = JS_IsoboxStringifyArguments(ctx, argc, argv);
        if qjs::JS_IsException(text) {
            return None;
        }
        if !qjs::JS_IsString(text) {
            // A `toJSON` planted on the arguments' prototype chain left nothing to serialise; the host answers that it
            // is not an argument list.
            qjs::JS_FreeValue(ctx, text);
            return reply(ctx, host::call(capability, function, "null"));
        }
        let mut len = 0;
        let ptr = qjs::JS_ToCStringLen(ctx, &mut len, text);
        qjs::JS_FreeValue(ctx, text);
        if ptr.is_null() {
            return None;
        }
        let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
        // A string from `JSON.stringify` is well formed: lone surrogates come escaped.
        let packed = match std::str::from_utf8(bytes) {
            Ok(args) => host::call(capability, function, args),
            Err(_) => host::call(capability, function, &String::from_utf8_lossy(bytes)),
        };
        qjs::JS_FreeCString(ctx, ptr);
        reply(ctx, packed)
    }
}

/// The reply the host announced (`packed`: its status in the high half, its length in the low), parsed.
///
/// # Safety
/// `ctx` is live.
unsafe fn reply(ctx: *mut JSContext, packed: u64) -> Option<(bool, JSValue)> {
    let (status, len) = ((packed >> 32) as u32, packed as u32 as usize);
    // Most replies are short (a number, `null`, a word): read into the stack rather than an allocation.
    let mut small = [0u8; SMALL_REPLY + 1];
    let mut large = Vec::new();
    let buffer = if len < small.len() {
        &mut small[..]
    } else {
        large.resize(len + 1, 0);
        &mut large[..]
    };
    // SAFETY: the host writes exactly the bytes it announced, into a buffer holding them and one more byte (a NUL:
    // QuickJS's JSON parser reads up to one); the value parsed is returned.
    unsafe {
        host::take(buffer.as_mut_ptr() as u32);
        buffer[len] = 0;
        let text = &buffer[..len];
        let value = match scalar(ctx, text) {
            Some(value) => value,
            None => qjs::JS_ParseJSON(ctx, text.as_ptr().cast::<c_char>(), len as _, c"<reply>".as_ptr()),
        };
        if qjs::JS_IsException(value) {
            return None;
        }
        Some((status != 0, value))
    }
}

/// The longest reply read into the stack.
const SMALL_REPLY: usize = 64;

/// The value of JSON text that is `null`, `true`, `false`, an integer of up to nine digits (not `-0`, a float) or a
/// string of printable ASCII without escapes, as `JSON.parse` makes it, without its parser; `None` for any other text.
///
/// # Safety
/// `ctx` is live.
unsafe fn scalar(ctx: *mut JSContext, text: &[u8]) -> Option<JSValue> {
    match text {
        b"null" => Some(qjs::JS_NULL),
        b"true" => Some(qjs::JS_TRUE),
        b"false" => Some(qjs::JS_FALSE),
        [b'"', inner @ .., b'"'] if inner.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') => {
            // SAFETY: a live context; ASCII is UTF-8.
            Some(unsafe { qjs::JS_NewStringLen(ctx, inner.as_ptr().cast::<c_char>(), inner.len() as _) })
        }
        _ => {
            let (negative, digits) = match text {
                [b'-', digits @ ..] => (true, digits),
                digits => (false, digits),
            };
            let plain =
                matches!(digits, [b'1'..=b'9', ..] | [b'0']) && digits.len() <= 9 && !(negative && digits == b"0");
            if !plain || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let magnitude = digits.iter().fold(0i32, |n, digit| n * 10 + i32::from(digit - b'0'));
            Some(qjs::JS_MKVAL(qjs::JS_TAG_INT, if negative { -magnitude } else { magnitude }))
        }
    }
}

/// Granted capability `capability`'s method names, each followed by `\n`, from the host.
fn method_names(capability: u32) -> String {
    let len = host::methods(capability) as usize;
    let mut names = Vec::with_capacity(len);
    host::take(names.spare_capacity_mut().as_mut_ptr() as u32);
    // SAFETY: the host has just written the `len` bytes it announced into the space reserved for them.
    unsafe { names.set_len(len) };
    String::from_utf8(names).unwrap_or_default()
}

/// `[[GetOwnProperty]]`: a method is a non-writable, enumerable, non-configurable data property.
unsafe extern "C" fn get_own_property(
    ctx: *mut JSContext,
    desc: *mut qjs::JSPropertyDescriptor,
    object: JSValue,
    atom: JSAtom,
) -> c_int {
    // SAFETY: QuickJS calls this with a live context, object of this class and atom; `desc` is null or writable.
    unsafe {
        let found = lookup(ctx, object, atom);
        if qjs::JS_IsException(found) {
            return -1;
        }
        if qjs::JS_IsUndefined(found) {
            return 0;
        }
        if let Some(desc) = desc.as_mut() {
            desc.flags = qjs::JS_PROP_ENUMERABLE as c_int;
            desc.value = qjs::JS_DupValue(ctx, found);
            desc.getter = qjs::JS_UNDEFINED;
            desc.setter = qjs::JS_UNDEFINED;
        }
        1
    }
}

/// `[[OwnPropertyKeys]]`: the method names, in declaration order.
unsafe extern "C" fn get_own_property_names(
    ctx: *mut JSContext,
    table: *mut *mut qjs::JSPropertyEnum,
    len: *mut u32,
    object: JSValue,
) -> c_int {
    // SAFETY: QuickJS calls this with a live context and object of this class, and frees the table it gets with
    // `js_free` (so it is allocated with `js_malloc`) after freeing each atom in it.
    unsafe {
        let methods = methods(object);
        if methods.is_null() {
            *table = std::ptr::null_mut();
            *len = 0;
            return 0;
        }
        let names = method_names((*methods).capability);
        let count = names.split_terminator('\n').count();
        let entries = qjs::js_malloc(ctx, (std::mem::size_of::<qjs::JSPropertyEnum>() * count.max(1)) as _)
            .cast::<qjs::JSPropertyEnum>();
        if entries.is_null() {
            return -1;
        }
        for (i, name) in names.split_terminator('\n').enumerate() {
            let atom = qjs::JS_NewAtomLen(ctx, name.as_ptr().cast(), name.len() as _);
            if atom == qjs::JS_ATOM_NULL {
                for made in 0..i {
                    qjs::JS_FreeAtom(ctx, (*entries.add(made)).atom);
                }
                qjs::js_free(ctx, entries.cast());
                return -1;
            }
            entries.add(i).write(qjs::JSPropertyEnum { is_enumerable: true, atom });
        }
        *table = entries;
        *len = count as u32;
        0
    }
}

/// `[[Delete]]`: no method can be deleted; any other name is not there.
unsafe extern "C" fn delete_property(ctx: *mut JSContext, object: JSValue, atom: JSAtom) -> c_int {
    // SAFETY: as for `get_own_property`.
    unsafe {
        let found = lookup(ctx, object, atom);
        if qjs::JS_IsException(found) {
            return -1;
        }
        qjs::JS_IsUndefined(found) as c_int
    }
}

/// `[[DefineOwnProperty]]` on a frozen object: only a definition that changes nothing succeeds
/// (ValidateAndApplyPropertyDescriptor), as `Object.freeze` or `Object.defineProperty` with the same value make.
unsafe extern "C" fn define_own_property(
    ctx: *mut JSContext,
    object: JSValue,
    atom: JSAtom,
    value: JSValue,
    _getter: JSValue,
    _setter: JSValue,
    flags: c_int,
) -> c_int {
    let flags = flags as u32;
    let has = |bit: u32| flags & bit != 0;
    // SAFETY: as for `get_own_property`; the values are QuickJS's and not owned here.
    unsafe {
        let found = lookup(ctx, object, atom);
        if qjs::JS_IsException(found) {
            return -1;
        }
        // A method's attributes are fixed (not configurable, enumerable, not writable, a data property), and so is its
        // value.
        let changes = has(qjs::JS_PROP_HAS_CONFIGURABLE) && has(qjs::JS_PROP_CONFIGURABLE)
            || has(qjs::JS_PROP_HAS_ENUMERABLE) && !has(qjs::JS_PROP_ENUMERABLE)
            || has(qjs::JS_PROP_HAS_WRITABLE) && has(qjs::JS_PROP_WRITABLE)
            || has(qjs::JS_PROP_HAS_GET)
            || has(qjs::JS_PROP_HAS_SET)
            || has(qjs::JS_PROP_HAS_VALUE) && !same_object(value, found);
        let unchanged = !qjs::JS_IsUndefined(found) && !changes;
        if unchanged {
            return 1;
        }
        if has(qjs::JS_PROP_THROW) || has(qjs::JS_PROP_THROW_STRICT) {
            qjs::JS_ThrowTypeError(ctx, c"object is not extensible or property is not configurable".as_ptr());
            return -1;
        }
        0
    }
}

/// SameValue for a value against a function.
///
/// # Safety
/// Both are live values.
unsafe fn same_object(value: JSValue, function: JSValue) -> bool {
    // SAFETY: reading tags and pointers only.
    unsafe { qjs::JS_IsObject(value) && qjs::JS_VALUE_GET_PTR(value) == qjs::JS_VALUE_GET_PTR(function) }
}

unsafe extern "C" fn mark(rt: *mut JSRuntime, object: JSValue, mark: qjs::JS_MarkFunc) {
    // SAFETY: QuickJS calls this during a collection with a live object of this class.
    unsafe {
        let Some(methods) = methods(object).as_ref() else { return };
        for value in methods.looked_up.values() {
            qjs::JS_MarkValue(rt, *value, mark);
        }
    }
}

unsafe extern "C" fn finalize(rt: *mut JSRuntime, object: JSValue) {
    // SAFETY: QuickJS calls this once, as the object is freed; the opaque pointer came from `Box::into_raw`.
    unsafe {
        let pointer = qjs::JS_GetOpaque(object, CLASS_ID.load(Ordering::Relaxed)).cast::<Methods>();
        if !pointer.is_null() {
            drop_methods(rt, *Box::from_raw(pointer));
        }
    }
}

/// Frees what `methods` holds of QuickJS's.
///
/// # Safety
/// `rt` is the runtime the values and atoms belong to.
unsafe fn drop_methods(rt: *mut JSRuntime, methods: Methods) {
    // SAFETY: each value and atom was duplicated for `methods` to own.
    unsafe {
        for (atom, value) in methods.looked_up {
            qjs::JS_FreeAtomRT(rt, atom);
            qjs::JS_FreeValueRT(rt, value);
        }
    }
}
