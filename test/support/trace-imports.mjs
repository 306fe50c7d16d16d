// Preload (`node --import`) that installs import-hooks.mjs.
import { register } from "node:module";
register(new URL("./import-hooks.mjs", import.meta.url));
