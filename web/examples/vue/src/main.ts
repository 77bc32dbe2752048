import { createApp } from "vue";
import "@examples/shared/style.css";
import App from "./App.vue";

createApp(App).mount("#app");
