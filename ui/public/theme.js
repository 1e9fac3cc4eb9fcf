// Applied before the app's code loads, so the first paint already has the right colours.
(function () {
  var pref = localStorage.getItem("waymark.theme") || "system";
  var dark = pref === "dark" || (pref === "system" && matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.classList.toggle("dark", dark);
})();
