;; `fixture-markup@1.0.0`, a test fixture: `describe()` answers a
;; description, an action title and an action description full of HTML and
;; script markup, for the web console's test that such text is shown as
;; text and never run. Its one action `run` returns the JSON Schema string.
;;
;; Written by hand against the `weft:connector` world's canonical ABI (types
;; from `weft:connector/types@0.1.0`, no other import), like `hostile-describe`;
;; `make components` turns it into `target/components/fixture-markup.wasm`.
(component
  (import "weft:connector/types@0.1.0" (instance $types
    (type $action-info' (record
      (field "key" string)
      (field "title" string)
      (field "description" string)
      (field "input-schema" string)
      (field "output-schema" string)))
    (export "action-info" (type $action-info (eq $action-info')))
    (type $component-info' (record
      (field "name" string)
      (field "version" string)
      (field "description" string)
      (field "actions" (list $action-info))
      (field "hosts" (list string))))
    (export "component-info" (type (eq $component-info')))
    (type $step-context' (record
      (field "execution-id" string)
      (field "tenant" string)
      (field "instance" string)
      (field "flow" string)
      (field "step" string)
      (field "attempt" u32)
      (field "idempotency-key" string)))
    (export "step-context" (type (eq $step-context')))
    (type $step-error' (variant
      (case "invalid-input" string)
      (case "upstream" string)
      (case "fatal" string)))
    (export "step-error" (type (eq $step-error')))))
  (alias export $types "component-info" (type $component-info))
  (alias export $types "step-context" (type $step-context))
  (alias export $types "step-error" (type $step-error))

  (core module $m
    (memory (export "memory") 8)
    ;; Top of the bump allocator's heap, above the static data.
    (global $heap (mut i32) (i32.const 4096))

    (data (i32.const 256) "fixture-markup")
    (data (i32.const 320) "1.0.0")
    (data (i32.const 336) "Markup fixture <img src=x onerror=window.__xss=3,alert(3)><script>window.__xss=4,alert(4)</script>")
    (data (i32.const 512) "run")
    (data (i32.const 528) "<b>Run</b>")
    (data (i32.const 544) "Action <img src=x onerror=window.__xss=5,alert(5)>")
    (data (i32.const 768) "{\22$schema\22:\22https://json-schema.org/draft/2020-12/schema\22,\22title\22:\22AnyValue\22}")

    ;; Stores a (pointer, length) pair, the lowered form of a string or list.
    (func $pair (param $at i32) (param $ptr i32) (param $len i32)
      (i32.store (local.get $at) (local.get $ptr))
      (i32.store offset=4 (local.get $at) (local.get $len)))

    ;; Returns a pointer to the lowered `component-info` (at 0), whose
    ;; one `action-info` lies at 40.
    (func (export "describe") (result i32)
      (call $pair (i32.const 0) (i32.const 256) (i32.const 14)) ;; name
      (call $pair (i32.const 8) (i32.const 320) (i32.const 5)) ;; version
      (call $pair (i32.const 16) (i32.const 336) (i32.const 98)) ;; description
      (call $pair (i32.const 24) (i32.const 40) (i32.const 1)) ;; actions: the one at 40
      (call $pair (i32.const 32) (i32.const 0) (i32.const 0)) ;; hosts: none
      (call $pair (i32.const 40) (i32.const 512) (i32.const 3)) ;; key
      (call $pair (i32.const 48) (i32.const 528) (i32.const 10)) ;; title
      (call $pair (i32.const 56) (i32.const 544) (i32.const 50)) ;; description
      (call $pair (i32.const 64) (i32.const 768) (i32.const 77)) ;; input-schema
      (call $pair (i32.const 72) (i32.const 768) (i32.const 77)) ;; output-schema
      (i32.const 0))

    ;; `run` takes its 17 flat parameters through memory (one pointer) and
    ;; returns a pointer to its lowered `result<string, step-error>`:
    ;; discriminant byte at 0 (0 ok, 1 err), payload at 4 (ok: the string's
    ;; pointer and length; err: the step-error case byte, then at 8 its
    ;; string's pointer and length).
    (func (export "run") (param $params i32) (result i32)
      (i32.store8 (i32.const 2048) (i32.const 0)) ;; ok
      (i32.store (i32.const 2052) (i32.const 768))
      (i32.store (i32.const 2056) (i32.const 77))
      (i32.const 2048))

    ;; A bump allocator: the host only allocates (for `run`'s parameters),
    ;; never frees or resizes.
    (func (export "cabi_realloc")
      (param $old i32) (param $old_size i32) (param $align i32) (param $size i32)
      (result i32)
      (local $ptr i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
      (block $enough
        (br_if $enough
          (i32.le_u (global.get $heap) (i32.shl (memory.size) (i32.const 16))))
        (br_if $enough
          (i32.ne
            (memory.grow
              (i32.sub
                (i32.shr_u (i32.add (global.get $heap) (i32.const 0xffff)) (i32.const 16))
                (memory.size)))
            (i32.const -1)))
        unreachable)
      (local.get $ptr)))

  (core instance $i (instantiate $m))

  (func (export "describe") (result $component-info)
    (canon lift (core func $i "describe") (memory (core memory $i "memory"))))
  (func (export "run")
    (param "action" string) (param "input" string) (param "ctx" $step-context)
    (result (result string (error $step-error)))
    (canon lift (core func $i "run")
      (memory (core memory $i "memory"))
      (realloc (core func $i "cabi_realloc")))))
