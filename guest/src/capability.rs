//! A granted capability's global object, whose methods are made on first use.
//!
//! A capability may have thousands of methods (an OpenAPI document's operations): making a function for each in every
//! request cost ~12k instructions a method (15 M for GitHub's API, whatever the program called). This object is made
//! in constant time instead: QuickJS asks it for a property only after finding none of its own (exotic methods); it
//! asks the host whether the name is a method (`host::method`), and has the prelude make the method's function the
//! first time the program reads it, and keeps it. Only listing its keys fetches every name (`host::methods`).
//!
//! To a program it is what the prelude would otherwise build (and what the V8 backend builds): a frozen ordinary
//! object inheriting from `Object.prototype`, whose own properties are the methods in declaration order, each a
//! non-writable, enumerable, non-configurable function.

use std::collections::BTreeMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicU32, Ordering};

use javy::quickjs::qjs::{self, JSAtom, JSContext, JSRuntime, JSValue};
use javy::quickjs::{Ctx, Function, Value};

use crate::isobox::guest::host;

/// The class of capability objects, registered once in the runtime (so in the snapshot).
static CLASS_ID: AtomicU32 = AtomicU32::new(0);

/// How many names that are not methods an object remembers as such (a program can ask for any number of them).
const MAX_REMEMBERED_MISSES: usize = 4096;

struct Methods {
    capability: u32,
    /// The prelude's `(capability, method, name) => function`.
    make: JSValue,
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

/// The prelude's `capabilityObject(capability, names, make)`: a frozen object whose methods `make` makes on demand.
/// The host has the names (`names` is empty: the guest's manifest leaves them out).
pub(crate) fn capability_object<'js>(
    ctx: Ctx<'js>,
    capability: u32,
    _names: Value<'js>,
    make: Function<'js>,
) -> javy::quickjs::Result<Value<'js>> {
    let raw = ctx.as_raw().as_ptr();
    let methods = Box::new(Methods {
        capability,
        // SAFETY: a live value of this context, duplicated for the object to own.
        make: unsafe { qjs::JS_DupValue(raw, make.as_raw()) },
        looked_up: BTreeMap::new(),
        misses: 0,
    });
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
    // SAFETY: live context, object and atom; every value made here is freed or kept (duplicated) below; no reference
    // to the methods is held across the call of `make`.
    unsafe {
        let methods = methods(object);
        if methods.is_null() {
            return qjs::JS_UNDEFINED;
        }
        if let Some(found) = (*methods).looked_up.get(&atom) {
            return *found;
        }
        let (capability, make) = ((*methods).capability, (*methods).make);
        let key = qjs::JS_AtomToValue(ctx, atom);
        let symbol = qjs::JS_IsSymbol(key);
        qjs::JS_FreeValue(ctx, key);
        let index = if symbol { None } else { method_index(ctx, capability, atom) };
        let found = match index {
            Some(index) => {
                let mut args = [
                    qjs::JS_MKVAL(qjs::JS_TAG_INT, capability as i32),
                    qjs::JS_MKVAL(qjs::JS_TAG_INT, index as i32),
                    qjs::JS_AtomToString(ctx, atom),
                ];
                let made = qjs::JS_Call(ctx, make, qjs::JS_UNDEFINED, 3, args.as_mut_ptr());
                qjs::JS_FreeValue(ctx, args[2]);
                if qjs::JS_IsException(made) {
                    return made;
                }
                made
            }
            None if (*methods).misses < MAX_REMEMBERED_MISSES => {
                (*methods).misses += 1;
                qjs::JS_UNDEFINED
            }
            None => return qjs::JS_UNDEFINED,
        };
        (*methods).looked_up.insert(qjs::JS_DupAtom(ctx, atom), found);
        found
    }
}

/// The position of the method named `atom` among capability `capability`'s, as the host has them.
///
/// # Safety
/// `ctx` and `atom` are live.
unsafe fn method_index(ctx: *mut JSContext, capability: u32, atom: JSAtom) -> Option<usize> {
    let mut len = 0;
    // SAFETY: live context and atom; the C string is freed before returning.
    unsafe {
        let text = qjs::JS_AtomToCStringLen(ctx, &mut len, atom);
        if text.is_null() {
            return None;
        }
        // A name that is not UTF-8 (a lone surrogate) names no method.
        let name = std::str::from_utf8(std::slice::from_raw_parts(text.cast::<u8>(), len as usize)).ok();
        let index = name.map_or(-1, |name| host::method(capability, name));
        qjs::JS_FreeCString(ctx, text);
        usize::try_from(index).ok()
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
        qjs::JS_MarkValue(rt, methods.make, mark);
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
        qjs::JS_FreeValueRT(rt, methods.make);
        for (atom, value) in methods.looked_up {
            qjs::JS_FreeAtomRT(rt, atom);
            qjs::JS_FreeValueRT(rt, value);
        }
    }
}
