import { createRoot } from "react-dom/client";
import "@examples/shared/style.css";
import { Root } from "./App.tsx";

createRoot(document.getElementById("root")!).render(<Root />);
