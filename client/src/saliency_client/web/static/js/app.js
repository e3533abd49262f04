// What every view shares: the chosen server, model, image and top classes, and the URL state.
import { $ } from "./dom.js";
import * as url from "./state.js";

export const app = {
  config: null,
  targetName: "",
  models: [],
  methods: [],
  model: null,
  image: null,
  top: [],
  state: url.read(),

  explainMethods() {
    return this.methods.filter((m) => m.kind === "explain");
  },
  attackMethods() {
    return this.methods.filter((m) => m.kind === "attack");
  },
  method(name) {
    return this.methods.find((m) => m.name === name);
  },
  label(index) {
    const labels = this.model?.labels ?? [];
    return index >= 0 && index < labels.length ? labels[index] : String(index);
  },
  // The call's common fields: which server, model and image.
  base() {
    return { target: this.targetName, model: this.model.name, image: this.image.id };
  },
  ready() {
    return Boolean(this.model && this.image);
  },
  // Record choices in the URL (the permalink) and show the link.
  save(changes = {}) {
    Object.assign(this.state, changes);
    $("#permalink").href = url.write(this.state);
  },
};
