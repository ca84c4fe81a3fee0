//! Checks a component's size before it reaches the compiler: compile time
//! and memory grow with the number and size of functions, so a component
//! of very many functions, or one giant function, is refused up front
//! (cheaply: one pass of the parser, no validation).

use super::error::LoadError;

/// Largest component, in bytes (the API's default body limit).
pub const MAX_COMPONENT_BYTES: usize = 16 << 20;
/// Most functions (over all core modules) one component may define.
pub const MAX_FUNCTIONS: usize = 20_000;
/// Largest body of one function, in bytes.
pub const MAX_FUNCTION_BYTES: usize = 512 << 10;

/// Refuses `bytes` if they pass any of the caps above.
pub fn check_compile_size(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() > MAX_COMPONENT_BYTES {
        return Err(LoadError::TooLarge {
            what: "component".into(),
            size: bytes.len(),
            limit: MAX_COMPONENT_BYTES,
        });
    }
    let mut functions = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        // Malformed input is the compiler's to explain.
        let Ok(payload) = payload else { return Ok(()) };
        if let wasmparser::Payload::CodeSectionEntry(body) = payload {
            functions += 1;
            if functions > MAX_FUNCTIONS {
                return Err(LoadError::TooManyFunctions {
                    limit: MAX_FUNCTIONS,
                });
            }
            let size = body.range().len();
            if size > MAX_FUNCTION_BYTES {
                return Err(LoadError::TooLarge {
                    what: format!("function {}", functions - 1),
                    size,
                    limit: MAX_FUNCTION_BYTES,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with(functions: usize, body_instructions: usize) -> Vec<u8> {
        let body = "(drop (i32.const 1))".repeat(body_instructions);
        let funcs = format!("(func {body})").repeat(functions);
        wat::parse_str(format!("(component (core module {funcs}))")).unwrap()
    }

    #[test]
    fn many_or_giant_functions_are_refused_before_compiling() {
        check_compile_size(&module_with(10, 10)).unwrap();
        let many = check_compile_size(&module_with(MAX_FUNCTIONS + 1, 0)).unwrap_err();
        assert!(
            many.to_string()
                .contains("defines more than 20000 functions"),
            "{many}"
        );
        let giant = check_compile_size(&module_with(1, MAX_FUNCTION_BYTES / 3 + 10)).unwrap_err();
        assert!(giant.to_string().contains("function 0 of "), "{giant}");
        let huge = check_compile_size(&vec![0; MAX_COMPONENT_BYTES + 1]).unwrap_err();
        assert!(
            huge.to_string()
                .contains("component of 16777217 bytes exceeds the limit of 16777216 bytes"),
            "{huge}"
        );
    }
}
