// Konva's core and the shapes the board draws, registered on it. The full build also brings
// every other shape and the image filters, none of which the board uses: 53 KB of the 550 KB
// bundle a page evaluates before it can open a canvas.

import Konva from 'konva/lib/Core';
import 'konva/lib/shapes/Arrow';
import 'konva/lib/shapes/Circle';
import 'konva/lib/shapes/Ellipse';
import 'konva/lib/shapes/Label';
import 'konva/lib/shapes/Line';
import 'konva/lib/shapes/Rect';
import 'konva/lib/shapes/Text';

export default Konva;
