//! Tauri's build step: validates tauri.conf.json and the capabilities, and generates the ACL
//! schemas (into gen/schemas, which is not committed).

fn main() {
    tauri_build::build();
}
