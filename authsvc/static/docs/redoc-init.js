// ReDoc always draws its sidebar logo from cdn.redoc.ly. The docs pages load
// nothing from elsewhere (and their CSP would block it), so point that image
// at the copy shipped with the vendored bundle. ReDoc sets the image's `src`
// both as an attribute and as a property; this runs before ReDoc does.
(function () {
  var CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg";
  var localLogo = document.currentScript.getAttribute("data-logo-url");

  function local(url) {
    return url === CDN_LOGO ? localLogo : url;
  }

  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    return setAttribute.call(this, name, name === "src" ? local(value) : value);
  };

  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      src.set.call(this, local(value));
    },
  });
})();
