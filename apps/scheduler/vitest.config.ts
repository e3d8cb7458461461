import base from "../../vitest.base.js";

export default base;
