// Compile-time contract check (run by `npm run check`, not by Vitest): the hand-written UI types in
// src/lib/backend/types.ts must agree with the tauri-specta bindings generated from Rust.
// Direction matters: what Rust sends must be readable as the UI type, and what the UI sends must be
// accepted by Rust.
import type * as B from "../src/lib/backend/bindings";
import type * as T from "../src/lib/backend/types";

type Fits<A, B> = [A] extends [B] ? true : false;
type Same<A, B> = Fits<A, B> extends true ? Fits<B, A> : false;
const ok = <V extends true>(v: V): V => v;

// Received from Rust. (Rust serialises every Settings field; the optional marks in bindings.ts only
// describe what it accepts as input, hence Required<> for reading.)
ok<Fits<B.AppInfo, T.AppInfo>>(true);
ok<Fits<B.KeyStatus, T.KeyStatus>>(true);
ok<Fits<Required<B.Settings>, T.Settings>>(true);
ok<Fits<Omit<B.SettingsView, "settings">, Omit<T.SettingsView, "settings">>>(true);
ok<Fits<B.JobView, T.JobView>>(true);
ok<Fits<B.JobEvent, T.JobEvent>>(true);
ok<Fits<B.ImageView, T.ImageView>>(true);
ok<Fits<B.ImagePageView, T.ImagePage>>(true);
ok<Fits<B.AccountView, T.AccountView>>(true);
ok<Fits<B.IpcError, T.IpcError>>(true);
// Wave 2 (team/WAVE2.md): gallery operations and the queue.
ok<Fits<B.DeleteReceipt, T.DeleteReceipt>>(true);
ok<Fits<B.DragPayload, T.DragPayload>>(true);
ok<Fits<B.ExportReport, T.ExportReport>>(true);
ok<Fits<B.ImportReport, T.ImportReport>>(true);
ok<Fits<B.QueueState, T.QueueState>>(true);
ok<Fits<B.CostSummary, T.CostSummary>>(true);
// image_settings returns a GenerateRequest the UI loads into Create.
ok<Fits<B.GenerateRequest, T.GenerateRequest>>(true);

// Sent to Rust.
ok<Fits<T.GenerateRequest, B.GenerateRequest>>(true);
ok<Fits<T.Settings, B.Settings>>(true);
ok<Fits<T.GalleryQuery, B.GalleryQuery>>(true);
ok<Fits<T.ExportRequest, B.ExportRequest>>(true);
ok<Fits<T.BatchRequest, B.BatchRequest>>(true);

// Enumerations must match exactly.
ok<Same<T.ErrorCode, B.ErrorCode>>(true);
ok<Same<T.Model, B.Model>>(true);
ok<Same<T.JobState, B.TaskState>>(true);
ok<Same<T.KeySource, B.KeySource>>(true);
ok<Same<T.Theme, B.Theme>>(true);
ok<Same<T.GallerySort, B.SortOrder>>(true);
ok<Same<T.ExportFormat, B.ExportFormat>>(true);
ok<Same<T.Aspect, B.Aspect>>(true);
ok<Same<T.SeedPlan, B.SeedPlan>>(true);
ok<Same<T.JobEvent, B.JobEvent>>(true);
// Editing with the other Flux task types.
ok<Fits<B.TaskCatalog, T.TaskCatalog>>(true);
ok<Fits<B.SourceInfo, T.SourceInfo>>(true);
ok<Fits<B.SourceImage, T.SourceImage>>(true);
ok<Fits<T.SourceImage, B.SourceImage>>(true);
ok<Fits<T.MaskInput, B.MaskInput>>(true);
ok<Fits<B.TaskSettingsView, T.TaskSettingsView>>(true);
ok<Same<T.TaskType, B.TaskType>>(true);
ok<Same<T.ControlType, B.ControlType>>(true);
