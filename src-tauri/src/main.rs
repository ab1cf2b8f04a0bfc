//! The Fluxdesk desktop app's entry point; everything lives in the library ([`fluxdesk_app_lib`]).

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    fluxdesk_app_lib::run();
}
