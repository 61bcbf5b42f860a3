import { loadResource } from "../../static/utils/resources.js";

const STYLE_ID = "markdown-view-style";
const STYLE = `
.markdown-view .codehilite { position: relative; display: block; width: 100%; margin: 0.5rem 0; }
.markdown-view .codehilite pre { margin: 0; padding: 0.75rem; padding-top: 1.9rem; border-radius: 6px; overflow-x: auto;
  background: rgba(127, 127, 127, 0.12); white-space: pre; }
.markdown-view .md-copy { position: absolute; top: 4px; right: 4px; font-size: 12px; line-height: 1; padding: 4px 8px;
  border-radius: 4px; border: 1px solid rgba(127, 127, 127, 0.35); background: transparent; color: inherit; cursor: pointer; opacity: 0.8; }
.markdown-view .md-copy:hover { opacity: 1; }
.markdown-view h1 { font-size: 1.5rem; line-height: 2rem; margin: 0.75rem 0 0.5rem; }
.markdown-view h2 { font-size: 1.3rem; line-height: 1.8rem; margin: 0.75rem 0 0.4rem; }
.markdown-view h3 { font-size: 1.15rem; line-height: 1.6rem; margin: 0.5rem 0 0.25rem; }
.markdown-view h4, .markdown-view h5, .markdown-view h6 { font-size: 1rem; line-height: 1.5rem; margin: 0.5rem 0 0.25rem; }
.markdown-view .md-live { white-space: pre-wrap; word-break: break-word; }
.markdown-view p, .markdown-view li { overflow-wrap: anywhere; }
.markdown-view table { display: block; overflow-x: auto; }
`;

function installStyle() {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = STYLE;
  document.head.appendChild(style);
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

export default {
  template: `<div><div ref="body" class="nicegui-markdown"></div><div ref="live" class="md-live"></div></div>`,
  props: {
    innerHTML: String,
    dynamicResourcePath: String,
    resourceName: String,
  },
  async mounted() {
    installStyle();
    this.render();
    await this.$nextTick(); // wait for window.path_prefix to be set
    await loadResource(window.path_prefix + `${this.dynamicResourcePath}/${this.resourceName}`);
  },
  watch: {
    innerHTML() {
      this.render();
    },
  },
  methods: {
    render() {
      this.$refs.body.setHTML(this.innerHTML || ""); // DOMPurify (installed by NiceGUI)
      this.$refs.live.textContent = "";
      this.addCopyButtons();
    },
    append(text) {
      this.$refs.live.append(document.createTextNode(text));
    },
    addCopyButtons() {
      this.$refs.body.querySelectorAll("pre").forEach((pre) => {
        let holder = pre.parentElement;
        if (!holder.classList.contains("codehilite")) {
          holder = document.createElement("div");
          holder.className = "codehilite";
          pre.replaceWith(holder);
          holder.appendChild(pre);
        }
        const button = document.createElement("button");
        button.type = "button";
        button.className = "md-copy";
        button.textContent = "Copy";
        button.setAttribute("aria-label", "Copy code");
        button.addEventListener("click", async () => {
          await copyText(pre.innerText);
          button.textContent = "Copied";
          setTimeout(() => (button.textContent = "Copy"), 1500);
        });
        holder.appendChild(button);
      });
    },
  },
};
