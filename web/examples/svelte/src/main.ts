import { mount } from "svelte";
import "@examples/shared/style.css";
import App from "./App.svelte";

mount(App, { target: document.getElementById("app")! });
